"""Ticket PDFs: one A5 page per pass (event, time in the event's timezone, venue, attendee,
tier, code and the pass's signed QR drawn as vectors), made with reportlab.

The QR is segno's module matrix drawn as filled rectangles (one per run of dark modules),
so it stays sharp at any zoom and needs no Pillow. Building the matrix is the costly part
(~10 ms for a 150-character payload), so matrices are cached per payload in the process.
Text that fits Windows-1252 (Latin-1 names such as "Zoë Brontë" or "Søren Ålborg") uses the
core Helvetica, which costs nothing to embed; a document with any other character (Polish,
Turkish, Greek, Cyrillic names...) embeds a subset of DejaVu Sans when the system has it
(Debian: fonts-dejavu-core), else of the Bitstream Vera that ships with reportlab.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import segno
from reportlab.lib.pagesizes import A5
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.core.files import File
from admitone.events.models import Event, TicketTier
from admitone.orgs.models import Organization
from admitone.passes import logos
from admitone.passes.codes import format_code
from admitone.passes.models import Pass
from admitone.passes.service import pass_qr
from admitone.settings import Settings

CORE_FONTS = ("Helvetica", "Helvetica-Bold")
TTF_FONTS = ("AdmitOneSans", "AdmitOneSans-Bold")
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks


@dataclass(frozen=True)
class Ticket:
    """What a ticket page shows; made from the database by `tickets_for`."""

    pass_id: str
    event_id: str
    event_title: str
    organization: str
    starts_at: datetime  # aware, UTC
    ends_at: datetime
    timezone: str
    venue: str
    attendee: str
    tier: str
    code: str
    qr: str
    status: str
    logo_key: str | None = None  # the organization's logo in storage, if it has one


def fonts_for(texts: Iterable[str]) -> tuple[str, str]:
    """(regular, bold) font names able to draw every text: the core fonts when all of it
    is Windows-1252, else the embedded TTF (registered once per process)."""
    try:
        for text in texts:
            text.encode("cp1252")
    except UnicodeEncodeError:
        pass
    else:
        return CORE_FONTS
    if TTF_FONTS[0] not in pdfmetrics.getRegisteredFontNames():
        regular, bold = _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            pdfmetrics.registerFont(TTFont(TTF_FONTS[0], str(regular)))
            pdfmetrics.registerFont(TTFont(TTF_FONTS[1], str(bold)))
        else:
            pdfmetrics.registerFont(TTFont(TTF_FONTS[0], "Vera.ttf"))
            pdfmetrics.registerFont(TTFont(TTF_FONTS[1], "VeraBd.ttf"))
    return TTF_FONTS


def ticket_texts(t: Ticket) -> tuple[str, ...]:
    return (t.event_title, t.organization, t.venue, t.attendee, t.tier)


@lru_cache(maxsize=2048)  # ~8 KB each: at most ~16 MB
def qr_ops(payload: str) -> tuple[int, str]:
    """The QR of `payload` (a full QR, never Micro QR; level M) as (size in modules, PDF
    path operators in module units, row 0 at the top): one `re` per run of dark modules.
    Cached per payload: encoding costs ~10 ms, drawing the cached path almost nothing."""
    matrix = segno.make_qr(payload, error="m").matrix
    size = len(matrix)
    ops: list[str] = []
    for r, row in enumerate(matrix):
        col = 0
        while col < size:
            if row[col]:
                start = col
                while col < size and row[col]:
                    col += 1
                ops.append(f"{start} {size - r - 1} {col - start} 1 re")
            else:
                col += 1
    return size, "\n".join(ops)


def draw_qr(
    c: Canvas, payload: str, x: float, y: float, side: float, *, cached: bool = True
) -> None:
    """The QR of `payload` as one filled vector path in the square of `side` points whose
    lower-left corner is (x, y), quiet zone included. `cached=False` for one-off drawings
    (a badge run draws each pass once: caching would only hold memory)."""
    size, ops = qr_ops(payload) if cached else qr_ops.__wrapped__(payload)
    cell = side / (size + 2 * QUIET_ZONE)
    c.saveState()
    c.setFillColorRGB(0, 0, 0)
    c.translate(x + QUIET_ZONE * cell, y + QUIET_ZONE * cell)
    c.scale(cell, cell)
    c.addLiteral(ops + "\nf")
    c.restoreState()


def fit_size(text: str, font: str, size: float, width: float, minimum: float = 6.0) -> float:
    """The largest size <= `size` at which `text` fits `width` (never below `minimum`)."""
    actual = float(pdfmetrics.stringWidth(text, font, size))
    if actual <= width:
        return size
    return max(minimum, size * width / actual)


def local_time(t: Ticket) -> str:
    return local_span(t.starts_at, t.ends_at, t.timezone)


@lru_cache(maxsize=1024)  # an event's passes share it
def local_span(starts_at: datetime, ends_at: datetime, timezone: str) -> str:
    """`Fri 20 Nov 2026, 09:00 - 17:00 (WAT)`: the event's time in its own timezone."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    start = starts_at.replace(tzinfo=starts_at.tzinfo or UTC).astimezone(zone)
    end = ends_at.replace(tzinfo=ends_at.tzinfo or UTC).astimezone(zone)
    day = start.strftime("%a %d %b %Y, %H:%M")
    until = end.strftime("%H:%M") if end.date() == start.date() else end.strftime("%d %b %H:%M")
    return f"{day} - {until} ({start.tzname() or timezone})"


def draw_logo(c: Canvas, logo: ImageReader, x: float, y: float, w: float, h: float) -> float:
    """`logo` fitted into the box (x, y, w, h), aligned left and centred vertically; returns
    the width it took. One image object per document (reportlab shares repeats)."""
    iw, ih = logo.getSize()
    scale = min(w / iw, h / ih)
    dw, dh = iw * scale, ih * scale
    c.drawImage(logo, x, y + (h - dh) / 2, dw, dh, mask="auto")
    return float(dw)


def _ticket_page(
    c: Canvas, t: Ticket, font: str, bold: str, logo: ImageReader | None = None
) -> None:
    width, height = A5
    margin = 12 * mm
    inner = width - 2 * margin
    c.setFillColorRGB(0.1, 0.2, 0.5)
    c.rect(0, height - 30 * mm, width, 30 * mm, fill=1, stroke=0)
    if logo is not None:  # on a white tile, so a dark logo shows on the band
        c.setFillColorRGB(1, 1, 1)
        c.roundRect(width - margin - 42 * mm, height - 17 * mm, 42 * mm, 14 * mm, 2 * mm, 0, 1)
        draw_logo(c, logo, width - margin - 41 * mm, height - 16 * mm, 40 * mm, 12 * mm)
    c.setFillColorRGB(1, 1, 1)
    c.setFont(font, 9)
    c.drawString(margin, height - 10 * mm, t.organization)
    size = fit_size(t.event_title, bold, 18, inner)
    c.setFont(bold, size)
    c.drawString(margin, height - 21 * mm, t.event_title)

    c.setFillColorRGB(0, 0, 0)
    y = height - 40 * mm
    for label, value in (
        ("When", local_time(t)),
        ("Where", t.venue or "-"),
        ("Attendee", t.attendee or "-"),
        ("Ticket", t.tier),
    ):
        c.setFont(font, 7.5)
        c.setFillColorRGB(0.4, 0.4, 0.4)
        c.drawString(margin, y, label.upper())
        c.setFillColorRGB(0, 0, 0)
        c.setFont(bold, fit_size(value, bold, 11, inner))
        c.drawString(margin, y - 5 * mm, value)
        y -= 12 * mm

    side = min(inner, 80 * mm)
    qx = (width - side) / 2
    qy = 24 * mm
    draw_qr(c, t.qr, qx, qy, side)
    c.setFont(bold, 14)
    c.drawCentredString(width / 2, 16 * mm, format_code(t.code))
    c.setFont(font, 7)
    c.setFillColorRGB(0.4, 0.4, 0.4)
    note = "Show this code at the door. It is yours alone: do not share it."
    if t.status != "valid":
        note = "This pass is no longer valid."
    c.drawCentredString(width / 2, 10 * mm, note)


def logo_reader(settings: Settings | None, key: str | None) -> ImageReader | None:
    """The organization's logo for a PDF (storage I/O on first use: call outside
    transactions), or None: no logo, or no settings to find it with."""
    png = logos.pdf_logo(settings, key)
    return ImageReader(io.BytesIO(png)) if png else None


def render_tickets(
    tickets: Sequence[Ticket], *, title: str = "Tickets", settings: Settings | None = None
) -> bytes:
    """One page per ticket, as PDF bytes; with `settings`, the organization's logo on each
    page when it has one."""
    font, bold = fonts_for(text for t in tickets for text in ticket_texts(t))
    out = io.BytesIO()
    c = Canvas(out, pagesize=A5, pageCompression=1, invariant=True)
    c.setTitle(title)
    c.setAuthor("Admit One")
    readers: dict[str, ImageReader | None] = {}
    for t in tickets:
        logo = None
        if t.logo_key and settings is not None:
            if t.logo_key not in readers:
                readers[t.logo_key] = logo_reader(settings, t.logo_key)
            logo = readers[t.logo_key]
        _ticket_page(c, t, font, bold, logo)
        c.showPage()
    c.save()
    return out.getvalue()


def tickets_for(session: Session, settings: Settings, passes: Iterable[Pass]) -> list[Ticket]:
    """The tickets of `passes` (in their order), with one read of their events and tiers."""
    rows = list(passes)
    if not rows:
        return []
    events: dict[str, tuple[Event, str, str | None]] = {
        row[0].id: (row[0], row[1], row[2])
        for row in session.execute(
            select(Event, Organization.name, File.storage_key)
            .join(Organization, Organization.id == Event.organization_id)
            .outerjoin(File, File.id == Organization.logo_file_id)
            .where(Event.id.in_({p.event_id for p in rows}))
        )
    }
    tiers: dict[str, str] = {
        row[0]: row[1]
        for row in session.execute(
            select(TicketTier.id, TicketTier.name).where(
                TicketTier.id.in_({p.tier_id for p in rows})
            )
        )
    }
    out = []
    for p in rows:
        event, org_name, logo_key = events[p.event_id]
        venue = ", ".join(v for v in (event.venue_name, event.venue_address) if v)
        out.append(
            Ticket(
                pass_id=p.id,
                event_id=p.event_id,
                event_title=event.title,
                organization=org_name,
                starts_at=event.starts_at,
                ends_at=event.ends_at,
                timezone=event.timezone,
                venue=venue or (event.online_url or ""),
                attendee=p.attendee_name or p.attendee_email or "",
                tier=tiers.get(p.tier_id, ""),
                code=p.code,
                qr=pass_qr(settings, p),
                status=p.status,
                logo_key=logo_key,
            )
        )
    return out


def ticket_filename(code: str) -> str:
    return f"ticket-{code}.pdf"
