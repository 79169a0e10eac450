"""The DP rendering engine: pure functions over bytes and images (no database, no HTTP).

    layout = parse_layout(json_text)                       # 422 invalid_layout naming the field
    frame = load_frame(frame_bytes, layout)                # on template upload: validates
    frame = frame_cache.get(file_id, layout, read_bytes)   # when rendering: decoded once
    photo = open_photo(upload, max_bytes=..., max_pixels=..., cover=layout.photo.size)
    rendered = render_dp(frame, layout, photo, {"name": "Ada"})   # Rendered(data, ...)
    preview = render_preview(frame, layout)

Every refusal is a `core.errors` subclass with a stable code (`errors.py`). Rendering costs
CPU and memory: call it outside any database transaction.
"""

from __future__ import annotations

from admitone.dp.render.compose import Rendered, render_dp
from admitone.dp.render.errors import (
    FileTooLarge,
    FrameSizeMismatch,
    ImageTooLarge,
    InvalidImage,
    InvalidLayout,
    InvalidText,
    MissingText,
    UnsupportedImageType,
)
from admitone.dp.render.fonts import FONT_KEYS
from admitone.dp.render.frame import (
    DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_MAX_FRAME_PIXELS,
    Frame,
    FrameCache,
    frame_cache,
    load_frame,
)
from admitone.dp.render.layout import Layout, PhotoSlot, TextSlot, parse_layout
from admitone.dp.render.photo import (
    DEFAULT_MAX_PHOTO_BYTES,
    DEFAULT_MAX_PHOTO_PIXELS,
    PHOTO_FORMATS,
    open_photo,
)
from admitone.dp.render.preview import render_preview, sample_photo, sample_texts

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "DEFAULT_MAX_FRAME_PIXELS",
    "DEFAULT_MAX_PHOTO_BYTES",
    "DEFAULT_MAX_PHOTO_PIXELS",
    "FONT_KEYS",
    "PHOTO_FORMATS",
    "FileTooLarge",
    "Frame",
    "FrameCache",
    "FrameSizeMismatch",
    "ImageTooLarge",
    "InvalidImage",
    "InvalidLayout",
    "InvalidText",
    "Layout",
    "MissingText",
    "PhotoSlot",
    "Rendered",
    "TextSlot",
    "UnsupportedImageType",
    "frame_cache",
    "load_frame",
    "open_photo",
    "parse_layout",
    "render_dp",
    "render_preview",
    "sample_photo",
    "sample_texts",
]
