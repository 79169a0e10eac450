"""A logo as an organizer would upload it: a 640 x 200 PNG with transparency."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def logo_png(size: tuple[int, int] = (640, 200)) -> bytes:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, size[0] - 10, size[1] - 10), fill=(200, 30, 40, 255))
    draw.ellipse((20, 20, size[1] - 20, size[1] - 20), fill=(255, 255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
