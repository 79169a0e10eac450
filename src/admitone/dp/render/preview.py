"""A template's preview: its layout rendered with a sample photo and sample texts.

The sample photo is drawn here (a person's silhouette on a soft gradient), not shipped as a
file: nothing to licence, the same at any slot size.
"""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw, ImageFilter

from admitone.dp.render.compose import Rendered, render_dp
from admitone.dp.render.frame import Frame
from admitone.dp.render.layout import Layout

SAMPLE_TEXTS = {
    "name": "Ada Lovelace",
    "title": "Speaker",
    "role": "Speaker",
    "company": "Analytical Engines Ltd",
}
_SAMPLE_SIDE = 800


@lru_cache(maxsize=1)
def sample_photo() -> Image.Image:
    """An 800x800 RGB stand-in for an attendee's photo (made once per process)."""
    side = _SAMPLE_SIDE
    top, bottom = (164, 196, 232), (236, 214, 190)
    gradient = Image.linear_gradient("L").resize((side, side))
    image = Image.composite(
        Image.new("RGB", (side, side), bottom), Image.new("RGB", (side, side), top), gradient
    )
    draw = ImageDraw.Draw(image)
    skin, shirt = (222, 178, 148), (58, 86, 140)
    draw.ellipse((side * 0.16, side * 0.66, side * 0.84, side * 1.34), fill=shirt)
    draw.rectangle((side * 0.43, side * 0.5, side * 0.57, side * 0.7), fill=skin)
    draw.ellipse((side * 0.32, side * 0.18, side * 0.68, side * 0.6), fill=skin)
    draw.chord((side * 0.3, side * 0.14, side * 0.7, side * 0.5), 180, 360, fill=(70, 48, 36))
    return image.filter(ImageFilter.GaussianBlur(2))


def sample_texts(layout: Layout) -> dict[str, str]:
    """A plausible value for each text slot: a known one by key, else the key itself."""
    return {
        slot.key: SAMPLE_TEXTS.get(slot.key, slot.key.replace("_", " ").title())
        for slot in layout.texts
    }


def render_preview(frame: Frame, layout: Layout) -> Rendered:
    return render_dp(frame, layout, sample_photo(), sample_texts(layout))
