"""Name badges: one per pass, drawn with reportlab like the tickets (vector QR, core font
unless a name needs the embedded TTF).

A badge: the event band at the top, the attendee's name shrunk to fit the width, the
organization (the attendee's company when the layout has one per badge, else the
organizer's), the role or tier, and the pass's QR. Single badges are A6; a run prints A4
sheets of 8 (2 x 4 of 105 x 74.25 mm) with crop marks at every cut, streamed sheet by sheet
from batches of passes. Memory: each finished sheet is compressed at once (reportlab would
keep it uncompressed until the end) and a run's QR codes bypass the cache, so a badge holds
only its ~2 KB of compressed page until the file is written.

The layout (per event, or per run) is a small JSON object; every key is optional:
`{"accent": "#1a3380", "title": "PyCon Lagos 2026", "show_tier": true, "show_org": true,
"org_text": "Speaker track"}`.
"""

from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

from reportlab.lib.pagesizes import A4, A6
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from admitone.core.errors import Invalid
from admitone.passes.pdf import Ticket, draw_logo, draw_qr, fit_size, fonts_for, logo_reader
from admitone.passes.pdf_join import PdfJoiner
from admitone.settings import Settings

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
SHEET_COLUMNS, SHEET_ROWS = 2, 4
PER_SHEET = SHEET_COLUMNS * SHEET_ROWS
CROP = 4 * mm  # crop mark length, drawn in the margin-less sheet's cut lines


class InvalidBadgeLayout(Invalid):
    code = "invalid_badge_layout"
    message = "The badge layout has an unknown key or a value of the wrong kind."


@dataclass(frozen=True)
class BadgeLayout:
    accent: tuple[float, float, float] = (0.1, 0.2, 0.5)
    title: str | None = None  # default: the event's title
    show_tier: bool = True
    show_org: bool = True
    org_text: str | None = None  # default: the organizer's name

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> BadgeLayout:
        if not raw:
            return cls()
        known = {"accent", "title", "show_tier", "show_org", "org_text"}
        if set(raw) - known:
            raise InvalidBadgeLayout(field=sorted(set(raw) - known)[0])
        accent = raw.get("accent", "#1a3380")
        if not isinstance(accent, str) or not _HEX.match(accent):
            raise InvalidBadgeLayout("`accent` must be a colour like #1a3380.", field="accent")
        for key in ("title", "org_text"):
            value = raw.get(key)
            if value is not None and (not isinstance(value, str) or len(value) > 120):
                raise InvalidBadgeLayout(f"`{key}` must be text of at most 120 characters.")
        for key in ("show_tier", "show_org"):
            if not isinstance(raw.get(key, True), bool):
                raise InvalidBadgeLayout(f"`{key}` must be true or false.", field=key)
        rgb = tuple(int(accent[i : i + 2], 16) / 255 for i in (1, 3, 5))
        return cls(
            accent=(rgb[0], rgb[1], rgb[2]),
            title=raw.get("title"),
            show_tier=bool(raw.get("show_tier", True)),
            show_org=bool(raw.get("show_org", True)),
            org_text=raw.get("org_text"),
        )


def _texts(t: Ticket, layout: BadgeLayout) -> tuple[str, str, str, str]:
    title = layout.title or t.event_title
    org = (layout.org_text or t.organization) if layout.show_org else ""
    role = t.tier.upper() if layout.show_tier else ""
    return title, t.attendee or "Guest", org, role


def draw_badge(
    c: Canvas,
    t: Ticket,
    layout: BadgeLayout,
    fonts: tuple[str, str],
    x: float,
    y: float,
    w: float,
    h: float,
    *,
    cached_qr: bool = True,
    logo: ImageReader | None = None,
) -> None:
    font, bold = fonts
    title, name, org, role = _texts(t, layout)
    short = min(w, h)
    band = 0.16 * h
    c.setFillColorRGB(*layout.accent)
    c.rect(x, y + h - band, w, band, fill=1, stroke=0)
    left = x + 4 * mm  # the title is centred in the band beside the logo, if any
    if logo is not None:  # the organization's logo on a white tile at the band's left
        tile_h = band - 2 * mm
        c.setFillColorRGB(1, 1, 1)
        c.rect(x + 1 * mm, y + h - band + 1 * mm, tile_h * 3.2, tile_h, fill=1, stroke=0)
        draw_logo(c, logo, x + 1.5 * mm, y + h - band + 1.5 * mm, tile_h * 3.2 - mm, tile_h - mm)
        left = x + 1 * mm + tile_h * 3.2 + 2 * mm
    right = x + w - 4 * mm
    c.setFillColorRGB(1, 1, 1)
    c.setFont(bold, fit_size(title, bold, 0.07 * short, right - left))
    c.drawCentredString((left + right) / 2, y + h - 0.105 * h, title)
    c.setFillColorRGB(0, 0, 0)
    c.setFont(bold, fit_size(name, bold, 0.11 * short, w - 10 * mm, minimum=4.0))
    c.drawCentredString(x + w / 2, y + h * 0.70, name)
    if org:
        c.setFont(font, fit_size(org, font, 0.045 * short, w - 10 * mm))
        c.drawCentredString(x + w / 2, y + h * 0.63, org)
    if role:
        c.setFillColorRGB(*layout.accent)
        c.setFont(bold, fit_size(role, bold, 0.05 * short, w - 10 * mm))
        c.drawCentredString(x + w / 2, y + h * 0.03, role)
    side = min(w * 0.9, h * 0.52)
    draw_qr(c, t.qr, x + (w - side) / 2, y + h * 0.09, side, cached=cached_qr)


def badge_pdf(t: Ticket, layout: BadgeLayout, settings: Settings | None = None) -> bytes:
    """One A6 badge; with `settings`, the organization's logo when it has one."""
    out = io.BytesIO()
    c = Canvas(out, pagesize=A6, pageCompression=1, invariant=True)
    c.setTitle(f"Badge {t.attendee}")
    logo = logo_reader(settings, t.logo_key)
    draw_badge(c, t, layout, fonts_for(_texts(t, layout)), 0, 0, A6[0], A6[1], logo=logo)
    c.showPage()
    c.save()
    return out.getvalue()


def _crop_marks(c: Canvas, w: float, h: float) -> None:
    """Short marks at the page edges on every cut line (the sheet is cut into 8)."""
    page_w, page_h = A4
    c.setLineWidth(0.3)
    c.setStrokeColorRGB(0, 0, 0)
    for col in range(1, SHEET_COLUMNS):
        cx = col * w
        c.line(cx, 0, cx, CROP)
        c.line(cx, page_h - CROP, cx, page_h)
    for row in range(1, SHEET_ROWS):
        cy = row * h
        c.line(0, cy, CROP, cy)
        c.line(page_w - CROP, cy, page_w, cy)
        # and a small cross where the cuts meet
        for col in range(1, SHEET_COLUMNS):
            c.line(col * w - CROP / 2, cy, col * w + CROP / 2, cy)
            c.line(col * w, cy - CROP / 2, col * w, cy + CROP / 2)


class _Deflated:
    """A page stream filter for content compressed already (see `_SheetCanvas`)."""

    pdfname = "FlateDecode"

    def encode(self, text: bytes) -> bytes:
        return text


class _SheetCanvas(Canvas):  # type: ignore[misc]  # reportlab is untyped
    """A canvas that compresses each finished page at once: reportlab keeps every page's
    content until it writes the file and compresses it only then (~19 KB per badge held);
    compressed at `showPage`, a badge holds ~2-3 KB (the PDF bytes it will become)."""

    def showPage(self) -> None:
        super().showPage()
        page = self._doc.Pages.pages[-1]
        stream = page.stream
        if isinstance(stream, str) and page.compression:
            page.stream = zlib.compress(stream.encode("latin-1"))
            page.compression = 0
            page._admitone_deflated = True

    def save(self) -> None:
        for page in self._doc.Pages.pages:
            if getattr(page, "_admitone_deflated", False):
                page.check_format(self._doc)  # builds Contents from the stream
                page.Contents.filters = [_DEFLATED]
        super().save()


_DEFLATED = _Deflated()


SHEETS_PER_PART = 8  # 64 badges drawn by reportlab in memory at a time


class BadgeSheets:
    """A4 sheets of 8 badges written to `out` as badges are added; `close()` finishes the
    file. Fonts: the core ones, unless `needs_ttf` (decided by the caller from every name
    of the run up front, so every sheet of a run looks the same).

    Memory is flat in the number of badges: reportlab draws `SHEETS_PER_PART` sheets into a
    small PDF held in memory, which `PdfJoiner` then copies to `out` and forgets."""

    def __init__(
        self,
        out: BinaryIO,
        layout: BadgeLayout,
        fonts: tuple[str, str],
        settings: Settings | None = None,
    ) -> None:
        self.layout = layout
        self.fonts = fonts
        self.settings = settings  # to find the organization's logo (None: no logo)
        self._logos: dict[str, ImageReader | None] = {}
        self.count = 0
        self.joiner = PdfJoiner(out, title="Badges")
        self.w, self.h = A4[0] / SHEET_COLUMNS, A4[1] / SHEET_ROWS
        self._part = io.BytesIO()
        self.canvas = self._new_canvas()

    def _new_canvas(self) -> _SheetCanvas:
        self._part = io.BytesIO()
        return _SheetCanvas(self._part, pagesize=A4, pageCompression=1, invariant=True)

    def _flush(self) -> None:
        self.canvas.save()
        self.joiner.add(self._part.getvalue())

    def add(self, t: Ticket) -> None:
        slot = self.count % PER_SHEET
        x = (slot % SHEET_COLUMNS) * self.w
        y = A4[1] - (slot // SHEET_COLUMNS + 1) * self.h
        logo = None
        if t.logo_key and self.settings is not None:
            if t.logo_key not in self._logos:
                self._logos[t.logo_key] = logo_reader(self.settings, t.logo_key)
            logo = self._logos[t.logo_key]
        draw_badge(
            self.canvas,
            t,
            self.layout,
            self.fonts,
            x,
            y,
            self.w,
            self.h,
            cached_qr=False,
            logo=logo,
        )
        self.count += 1
        if self.count % PER_SHEET == 0:
            _crop_marks(self.canvas, self.w, self.h)
            self.canvas.showPage()
            if self.count % (PER_SHEET * SHEETS_PER_PART) == 0:
                self._flush()
                self.canvas = self._new_canvas()

    def close(self) -> int:
        """Finishes the file; returns the number of sheets."""
        if self.count % PER_SHEET:
            _crop_marks(self.canvas, self.w, self.h)
            self.canvas.showPage()
        if self.count % (PER_SHEET * SHEETS_PER_PART) or not self.count:
            self._flush()
        self.joiner.close()
        return self.joiner.page_count
