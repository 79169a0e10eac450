"""An attendee's photo in: checked before it is decoded, decoded no larger than the slot
needs, turned upright, in sRGB, without any of its metadata.

The measured pipeline (reference/media-measurements.md §1): the type is sniffed from the
bytes (JPEG, PNG, WebP, HEIC); the byte limit, then the pixel limit from the header, come
before any pixel is decoded (a decompression bomb never reaches the decoder); a JPEG is
decoded with `draft()` (libjpeg's DCT scaling by 1/2..1/8) sized, in the stored orientation,
so that the result still covers the slot; other formats are box-reduced after decoding to
about twice the slot; then EXIF orientation is applied. The returned image is a new one: no
EXIF (GPS), XMP, ICC profile or comment of the upload reaches an output.
"""

from __future__ import annotations

import math
import threading
from functools import cache

from PIL import Image

from admitone.core.images import FileTooLarge, InvalidImage, open_untrusted, to_srgb

PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
DEFAULT_MAX_PHOTO_BYTES = 15 * 1024 * 1024
DEFAULT_MAX_PHOTO_PIXELS = 50_000_000
_ORIENTATION = 0x0112
_TURNED = (5, 6, 7, 8)  # orientations stored with width and height swapped
# EXIF orientation -> the transposition that makes the photo upright (as ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# A HEIC or PNG photo is decoded whole (36 MB for 12 MP): two at a time per process.
_decoders = threading.BoundedSemaphore(2)


def open_photo(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_PHOTO_BYTES,
    max_pixels: int = DEFAULT_MAX_PHOTO_PIXELS,
    cover: tuple[int, int] | None = None,
) -> Image.Image:
    """The photo in `data`, upright, RGB, in sRGB and without metadata.

    `cover` (the photo slot's width and height) lets the decoder shrink the photo on load to
    the smallest size that still covers it; without it the photo is decoded at full size.
    Raises `file_too_large` (413) over `max_bytes`, `unsupported_image_type` (415) for
    anything but JPEG, PNG, WebP and HEIC, `image_too_large` (422) over `max_pixels` (or
    Pillow's own limit, whichever is lower) before decoding, `invalid_image` (422) when it
    does not decode."""
    if len(data) > max_bytes:
        raise FileTooLarge(f"The photo is larger than {max_bytes} bytes.", max_bytes=max_bytes)
    limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
    if data[4:8] == b"ftyp":  # an ISO media file: HEIC/HEIF (or another, refused below)
        register_heif()
    # HEIF once registered (not Image.init(): loading Pillow's 43 plugins costs 4 MiB)
    formats = PHOTO_FORMATS if "HEIF" in Image.OPEN else PHOTO_FORMATS[:-1]
    with _decoders:
        image = open_untrusted(
            data,
            max_pixels=limit,
            formats=formats,
            accepted="a JPEG, PNG, WebP or HEIC",
            unrecognised_unsupported=True,
        )
        try:
            return _decode(image, cover)
        except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
            # Pillow reports truncated and corrupt data as any of these.
            image.close()
            raise InvalidImage() from exc


@cache
def register_heif() -> None:
    """Lets Pillow open HEIC/HEIF (iPhones' photos) through pillow-heif (libheif, bundled in
    its wheel). Done on the first such photo: the library costs a JPEG-only process ~7 MiB."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def _decode(image: Image.Image, cover: tuple[int, int] | None) -> Image.Image:
    orientation = image.getexif().get(_ORIENTATION, 1)
    target = None
    if cover is not None:
        # draft() and reduce() work in the stored orientation, before the photo is turned.
        target = (cover[1], cover[0]) if orientation in _TURNED else cover
    if target is not None and image.format in ("JPEG", "MPO"):
        scale = max(target[0] / image.width, target[1] / image.height)
        if scale < 1:
            image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
    image.load()
    decoded: Image.Image = image
    if image.mode in ("1", "P", "PA") or image.mode.startswith("I;16"):
        # palette indices and 16-bit grey cannot be averaged: to RGB(A) before reducing
        decoded = to_srgb(image)
        decoded.info.pop("icc_profile", None)
    if target is not None:
        # Formats without shrink-on-load: a cheap box reduction first, keeping about twice
        # what the slot needs so the final Lanczos resize has the detail it wants.
        factor = int(min(decoded.width / target[0], decoded.height / target[1]) / 2)
        if factor >= 2:
            decoded = decoded.reduce(factor)
    turn = _TRANSPOSE.get(orientation)
    upright = decoded.transpose(turn) if turn is not None else decoded
    if upright is image:
        upright = image.copy()  # a new image: the file's parsed EXIF stays behind with it
    if upright.mode != "RGB" or upright.info.get("icc_profile"):
        upright = to_srgb(upright)
    if upright.mode == "RGBA":  # a transparent PNG/WebP photo: on white, as it would show
        flat = Image.new("RGB", upright.size, (255, 255, 255))
        flat.paste(upright, mask=upright.getchannel("A"))
        upright = flat
    upright.info.clear()
    return upright
