"""Images made in the tests: photos with EXIF (orientation, GPS), frames with holes, bombs."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image, ImageDraw

RED = (220, 30, 30)
BLUE = (30, 30, 220)
FRAME_COLOUR = (20, 160, 60)

# Orientation -> how the camera stored an upright picture (the inverse of what a reader does).
_STORE = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


def two_tone(width: int, height: int) -> Image.Image:
    """Upright: red top half, blue bottom half."""
    image = Image.new("RGB", (width, height), BLUE)
    ImageDraw.Draw(image).rectangle((0, 0, width - 1, height // 2 - 1), fill=RED)
    return image


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0110] = "Model X1"  # Model
    exif[0x0131] = "PhoneOS 1.0"  # Software
    exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 22.0, 12.5)
    gps[3] = "E"
    gps[4] = (4.0, 53.0, 40.1)
    return exif


def photo_bytes(
    upright: Image.Image, fmt: str = "JPEG", *, orientation: int = 1, **save: Any
) -> bytes:
    """`upright` stored as a camera would with EXIF `orientation` (and GPS) in `fmt`."""
    stored = upright.transpose(_STORE[orientation]) if orientation in _STORE else upright
    out = io.BytesIO()
    stored.save(out, fmt, exif=exif_with_gps(orientation), **save)
    return out.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def frame_with_hole(size: tuple[int, int], hole: tuple[int, int, int, int]) -> Image.Image:
    """An opaque green frame with a fully transparent rectangular hole."""
    frame = Image.new("RGBA", size, (*FRAME_COLOUR, 255))
    ImageDraw.Draw(frame).rectangle(hole, fill=(0, 0, 0, 0))
    return frame


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width`x`height` pixels in a few dozen bytes: a decompression bomb as
    far as any header reader can tell (decoding it would need width*height*3 bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is patched to claim `width`x`height`."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "gray").save(out, "JPEG")
    data = bytearray(out.getvalue())
    at = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def layout_dict(**overrides: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "width": 400,
        "height": 400,
        "format": "jpeg",
        "photo": {"x": 100, "y": 40, "width": 200, "height": 200, "shape": "rect"},
        "texts": [
            {
                "key": "name",
                "x": 20,
                "y": 270,
                "width": 360,
                "height": 60,
                "size": 48,
                "color": "#ffffff",
                "required": True,
            },
            {"key": "title", "x": 40, "y": 340, "width": 320, "height": 40, "size": 28},
        ],
    }
    layout.update(overrides)
    return layout
