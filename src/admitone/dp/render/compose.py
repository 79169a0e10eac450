"""One DP: the photo cover-cropped into its slot with the slot's shape, the frame over it
(or under it, see `frame.py`), the texts on top, encoded without any metadata.

Pure: no database, no network. CPU-bound (≈ 50 ms for a 12 MP JPEG to a 1080x1080 JPEG,
docs/performance.md); call it outside any transaction.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageOps

from admitone.dp.render import text as texts_
from admitone.dp.render.errors import InvalidText, MissingText
from admitone.dp.render.frame import Frame
from admitone.dp.render.layout import Layout, PhotoSlot, TextSlot

JPEG_QUALITY = 85
# zlib level 1: 40 ms instead of 86-120 ms at level 6 for a 1080x1080 DP, files ~20 % larger
# (reference/media-measurements.md §1, encoders).
PNG_COMPRESS_LEVEL = 1
_SUPERSAMPLE = 4  # masks drawn 4x and reduced: anti-aliased edges
_BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class Rendered:
    data: bytes
    content_type: str  # image/jpeg or image/png
    width: int
    height: int

    @property
    def extension(self) -> str:
        return "png" if self.content_type == "image/png" else "jpg"


def render_dp(
    frame: Frame, layout: Layout, photo: Image.Image | None, texts: dict[str, str]
) -> Rendered:
    """The DP for `photo` (from `open_photo`, ideally with `cover=layout.photo.size`) and
    the text values by slot key. Raises `missing_text` (422, naming the key) for a required
    text absent or blank, `invalid_text` (422) for an unknown key, a text too long or letters
    no bundled font has. An empty photo slot is left as the frame shows it."""
    lines = _fit_texts(layout, texts)
    canvas = _compose(frame, layout.photo, photo)
    if lines:
        draw = ImageDraw.Draw(canvas, "RGBA")  # RGBA ink blended on the RGB canvas
        for slot, line in lines:
            texts_.draw(draw, slot, line)
    return _encode(canvas, layout.format)


def _fit_texts(layout: Layout, values: dict[str, str]) -> list[tuple[TextSlot, texts_.Line]]:
    for key in values:
        if layout.text(key) is None:
            known = ", ".join(t.key for t in layout.texts) or "none"
            raise InvalidText(key, f"The layout has no text '{key}' (its texts: {known}).")
    lines: list[tuple[TextSlot, texts_.Line]] = []
    for slot in layout.texts:
        raw = values.get(slot.key) or ""
        if not isinstance(raw, str):  # JSON from a client: {"name": 42}
            raise InvalidText(slot.key, f"The text '{slot.key}' must be a string.")
        value = texts_.clean_text(slot, raw)
        if not value:
            if slot.required:
                raise MissingText(slot.key)
            continue
        line = texts_.fit(slot, value)
        if line is None:
            if slot.required:
                raise MissingText(slot.key, f"The text '{slot.key}' has nothing to draw.")
            continue
        lines.append((slot, line))
    return lines


def _compose(frame: Frame, slot: PhotoSlot, photo: Image.Image | None) -> Image.Image:
    if frame.alpha is None and not frame.photo_under:
        canvas = frame.rgb.copy()
    else:
        canvas = Image.new("RGB", frame.size, _BACKGROUND)
        if not frame.photo_under:
            canvas.paste(frame.rgb, (0, 0), frame.alpha)
    if photo is not None:
        fitted = ImageOps.fit(photo, slot.size, Image.Resampling.LANCZOS)
        if fitted.mode != "RGB":
            fitted = fitted.convert("RGB")
        canvas.paste(fitted, (slot.x, slot.y), _mask(slot.width, slot.height, slot.shape,
                                                     slot.corner_radius))  # fmt: skip
    if frame.photo_under:
        canvas.paste(frame.rgb, (0, 0), frame.alpha)
    return canvas


@lru_cache(maxsize=64)
def _mask(width: int, height: int, shape: str, radius: int) -> Image.Image | None:
    """The slot's shape as an anti-aliased mask (None for a plain rectangle), made once per
    shape and size: one quarter drawn 4x larger and reduced, then mirrored into the others
    (the shapes are symmetric; a whole 4x canvas would be 4 MiB for a 500x500 slot)."""
    if shape == "rect":
        return None
    ss = _SUPERSAMPLE
    half_w, half_h = (width + 1) // 2, (height + 1) // 2
    big = Image.new("L", (half_w * ss, half_h * ss), 0)
    box = (0, 0, width * ss - 1, height * ss - 1)  # the whole shape, clipped to its quarter
    if shape == "circle":
        ImageDraw.Draw(big).ellipse(box, fill=255)
    else:
        ImageDraw.Draw(big).rounded_rectangle(box, radius=radius * ss, fill=255)
    quarter = big.resize((half_w, half_h), Image.Resampling.BOX)
    mask = Image.new("L", (width, height), 0)
    right, bottom = width - half_w, height - half_h
    mask.paste(quarter, (0, 0))
    mask.paste(quarter.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (right, 0))
    mask.paste(quarter.transpose(Image.Transpose.FLIP_TOP_BOTTOM), (0, bottom))
    mask.paste(quarter.transpose(Image.Transpose.ROTATE_180), (right, bottom))
    return mask


def _encode(canvas: Image.Image, fmt: str) -> Rendered:
    out = io.BytesIO()
    # A new canvas, saved with no exif=/icc_profile=/pnginfo=: nothing of any input is written.
    if fmt == "png":
        canvas.save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL)
        content_type = "image/png"
    else:
        canvas.save(out, "JPEG", quality=JPEG_QUALITY)
        content_type = "image/jpeg"
    width, height = canvas.size
    return Rendered(out.getvalue(), content_type, width, height)
