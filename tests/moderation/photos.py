"""Synthetic photo-like images (seeded): smooth gradients, shapes and a little noise, so
perceptual hashes of different seeds differ as those of different photos do."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


@lru_cache(maxsize=32)
def photo(seed: int, size: tuple[int, int] = (1200, 900)) -> Image.Image:
    """Drawn at 400 px wide and scaled up (drawing at full size costs seconds)."""
    small = _draw(seed, (400, max(1, 400 * size[1] // size[0])))
    return small.resize(size, Image.Resampling.BICUBIC)


def _draw(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b, p = rng.uniform(-1, 1, 3)
        base[..., c] = 128 + 90 * np.sin(a * xx / w * 6 + b * yy / h * 6 + p * 3)
    image = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(w // 10, w // 2)), y0 + int(rng.integers(h // 10, h // 2))
        fill = tuple(int(v) for v in rng.integers(0, 255, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=fill)
    image = image.filter(ImageFilter.GaussianBlur(1))
    noise = rng.normal(0, 4, (h, w, 3))
    return Image.fromarray((np.asarray(image, np.float32) + noise).clip(0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str = "JPEG", **save: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def jpeg(seed: int, size: tuple[int, int] = (1200, 900), quality: int = 90) -> bytes:
    return encode(photo(seed, size), "JPEG", quality=quality)
