"""Untrusted images in, clean images out.

The type is judged by decoding (the client's content type is ignored); a decompression bomb
is refused from its header, before any pixel is decoded; what is kept is turned upright,
converted to sRGB, bounded in size and re-encoded, so no EXIF, GPS, XMP or comment of the
original survives. Call it outside any database transaction: it costs CPU and memory.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from admitone.core.errors import Invalid, PayloadTooLarge, UnsupportedMediaType

ACCEPTED = ("JPEG", "PNG", "WEBP")
# Only named in the refusal, never decoded: formats people upload by mistake.
_NAMED_ONLY = ("GIF", "BMP", "TIFF", "ICO", "AVIF", "PSD", "JPEG2000")
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# A 40-megapixel RGBA image is 160 MB decoded: a few at a time per process, not forty.
_decoders = threading.BoundedSemaphore(2)
# Pillow only warns between its pixel limit and twice that: here it is a refusal, always.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


class FileTooLarge(PayloadTooLarge):
    code = "file_too_large"
    message = "The file is too large."


class InvalidImage(Invalid):
    code = "invalid_image"
    message = "The file is not an image that can be read (damaged, truncated or not an image)."


class UnsupportedImageType(UnsupportedMediaType):
    code = "unsupported_image_type"
    message = "Upload a JPEG, PNG or WebP image."


class ImageTooLarge(Invalid):
    code = "image_too_large"
    message = "The image has too many pixels."


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    content_type: str  # image/jpeg, or image/webp when the image has transparency
    extension: str
    width: int
    height: int
    sha256: str

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def read_limited(fp: BinaryIO, max_bytes: int) -> bytes:
    """At most `max_bytes` of `fp`; `file_too_large` (413) if there is more."""
    data = fp.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileTooLarge(f"The file is larger than {max_bytes} bytes.", max_bytes=max_bytes)
    return data


def clean_image(data: bytes, *, max_pixels: int, max_side: int, quality: int = 85) -> CleanImage:
    """A JPEG (or a WebP when transparency must survive) at most `max_side` pixels on its long
    side. Raises `unsupported_image_type` (415) for another format, `image_too_large` (422)
    over `max_pixels`, `invalid_image` (422) for anything that does not decode."""
    with _decoders:
        original = open_untrusted(data, max_pixels=max_pixels)
        with original:
            try:
                image = _upright_srgb(original, max_side)
            except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
                # Pillow reports truncated and corrupt data as any of these.
                raise InvalidImage() from exc
        alpha = image.mode == "RGBA"
        image.info.clear()  # nothing of the original's metadata is handed to the encoder
        out = io.BytesIO()
        if alpha:
            image.save(out, "WEBP", quality=quality, method=4)
        else:
            image.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    encoded = out.getvalue()
    return CleanImage(
        data=encoded,
        content_type="image/webp" if alpha else "image/jpeg",
        extension="webp" if alpha else "jpg",
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(encoded).hexdigest(),
    )


def open_untrusted(
    data: bytes,
    *,
    max_pixels: int,
    formats: Sequence[str] = ACCEPTED,
    accepted: str = "a JPEG, PNG or WebP image",
    unrecognised_unsupported: bool = False,
) -> Image.Image:
    """The image in `data`, its header read and no pixel decoded yet: the type judged from the
    bytes among `formats` (else `unsupported_image_type`, naming what it is when Pillow can),
    `image_too_large` over `max_pixels` or over Pillow's own limit (a decompression bomb is
    refused here, before decoding), `invalid_image` when not even the header reads (or,
    with `unrecognised_unsupported`, `unsupported_image_type` for bytes of no image type)."""
    try:
        image = Image.open(io.BytesIO(data), formats=tuple(formats))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge() from exc
    except UnidentifiedImageError:
        pass
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImage() from exc
    else:
        width, height = image.size
        if width * height > max_pixels:
            image.close()
            raise ImageTooLarge(
                f"The image is {width}x{height}; at most "
                f"{max_pixels / 1_000_000:g} megapixels are accepted.",
                width=width,
                height=height,
            )
        return image
    named = tuple(f for f in (*ACCEPTED, *_NAMED_ONLY) if f not in formats)
    try:
        with Image.open(io.BytesIO(data), formats=named) as other:
            name = other.format or "This"
    except Exception:  # whatever Pillow cannot even name is no image to us
        if unrecognised_unsupported:
            raise UnsupportedImageType(f"This is not an image; upload {accepted}.") from None
        raise InvalidImage() from None
    raise UnsupportedImageType(f"{name} images are not accepted; upload {accepted}.", format=name)


def _upright_srgb(original: Image.Image, max_side: int) -> Image.Image:
    if original.format in ("JPEG", "MPO"):  # MPO: a phone's multi-picture JPEG
        # Lets the decoder scale by 1/2, 1/4 or 1/8 while the result still covers max_side.
        original.draft("RGB", (max_side, max_side))
    original.load()
    image = ImageOps.exif_transpose(original)  # a copy, turned as the camera was held
    image = to_srgb(image)
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def to_srgb(image: Image.Image) -> Image.Image:
    """RGB, or RGBA when some pixel is transparent; an embedded ICC profile (a phone's
    Display P3, a print CMYK) is converted to sRGB, which browsers assume when none is given."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey PNG
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    target = "RGBA" if _has_alpha(image) else "RGB"
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            converted = ImageCms.profileToProfile(
                image, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _SRGB, outputMode=target
            )
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a damaged profile: keep the pixels as they are
    return image.convert(target)


def _has_alpha(image: Image.Image) -> bool:
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode not in ("RGBA", "LA", "PA", "RGBa", "La"):
        return False
    lowest = image.getchannel("A").getextrema()[0]
    return isinstance(lowest, int | float) and lowest < 255


def decode_rgb(data: bytes, *, max_pixels: int, max_side: int) -> Image.Image:
    """The upload's pixels, upright, sRGB, flattened onto white, at most `max_side` on its
    long side (JPEGs decoded at a reduced scale with `draft()`): for analysis (moderation
    checks), never stored. Refuses exactly as `clean_image` does (415, 422)."""
    with _decoders:
        original = open_untrusted(data, max_pixels=max_pixels)
        with original:
            try:
                image = _upright_srgb(original, max_side)
            except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
                raise InvalidImage() from exc
    if image.mode == "RGBA":
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    return image
