"""The organizer's frame: validated on upload, decoded once per process.

A frame is a PNG (its transparent parts show the photo) or a JPEG (a background: the photo
is drawn over it). Its size must be the layout's output size, or the same proportions
(within 1 %, e.g. a 2160x2160 frame for a 1080x1080 layout), in which case it is scaled to
the layout's size once, when it is loaded; other proportions are refused
(`frame_size_mismatch`), since stretching would distort the art.

Where the photo goes: when any pixel of the frame inside the photo slot is transparent, the
photo is drawn *under* the frame (the frame's hole shapes it, the slot's mask too); when the
slot area is opaque, the photo is drawn *over* the frame, masked by the slot's shape.

`frame_cache.get(key, layout, read)` is how rendering gets a frame: `key` names the stored
frame (its file id or content hash), `read` is called only on a miss, and the decoded frame
is kept (LRU, bounded by decoded bytes).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image, ImageOps

from admitone.core.images import FileTooLarge, InvalidImage, open_untrusted, to_srgb
from admitone.dp.render.errors import FrameSizeMismatch
from admitone.dp.render.layout import Layout

FRAME_FORMATS = ("PNG", "JPEG")
DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_FRAME_PIXELS = 16_000_000
DEFAULT_FRAME_CACHE_BYTES = 48 * 1024 * 1024  # about ten 1080x1080 frames
_PROPORTION_TOLERANCE = 0.01


@dataclass(frozen=True, eq=False)
class Frame:
    """A decoded frame at its layout's output size."""

    rgb: Image.Image
    alpha: Image.Image | None  # None: fully opaque
    photo_under: bool  # the slot shows through transparency: the photo goes under the frame
    sha256: str  # of the uploaded bytes

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.size

    @property
    def nbytes(self) -> int:
        width, height = self.rgb.size
        return width * height * (4 if self.alpha is not None else 3)


def load_frame(
    data: bytes,
    layout: Layout,
    *,
    max_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    max_pixels: int = DEFAULT_MAX_FRAME_PIXELS,
) -> Frame:
    """The frame in `data` for `layout`; raises `file_too_large` (413),
    `unsupported_image_type` (415, not PNG or JPEG), `image_too_large` (422, before
    decoding), `invalid_image` (422) or `frame_size_mismatch` (422)."""
    if len(data) > max_bytes:
        raise FileTooLarge(f"The frame is larger than {max_bytes} bytes.", max_bytes=max_bytes)
    image = open_untrusted(
        data,
        max_pixels=max_pixels,
        formats=FRAME_FORMATS,
        accepted="a PNG or JPEG frame",
        unrecognised_unsupported=True,
    )
    try:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
        turned = orientation in (5, 6, 7, 8)
        _check_proportions((height, width) if turned else (width, height), layout)
        image.load()
        # Without a turn or a profile the decoded pixels are used as they are: a 1080x1080
        # RGBA frame is 4.5 MiB, and each copy would add to the process's peak memory.
        decoded = ImageOps.exif_transpose(image) if orientation != 1 else image
        if decoded.mode not in ("RGB", "RGBA") or decoded.info.get("icc_profile"):
            decoded = to_srgb(decoded)
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        image.close()
        raise InvalidImage() from exc
    except FrameSizeMismatch:
        image.close()
        raise
    _check_proportions(decoded.size, layout)  # an EXIF turn may have swapped the sides
    if decoded.size != layout.size:
        decoded = decoded.resize(layout.size, Image.Resampling.LANCZOS)
    alpha = None
    photo_under = False
    if decoded.mode == "RGBA":
        alpha = decoded.getchannel("A")
        slot = layout.photo
        box = (slot.x, slot.y, slot.x + slot.width, slot.y + slot.height)
        photo_under = _lowest(alpha.crop(box)) < 255
        if _lowest(alpha) == 255:
            alpha = None
    rgb = decoded.convert("RGB") if decoded.mode != "RGB" else decoded
    rgb.info.clear()
    return Frame(
        rgb=rgb, alpha=alpha, photo_under=photo_under, sha256=hashlib.sha256(data).hexdigest()
    )


def _lowest(channel: Image.Image) -> int:
    low = channel.getextrema()[0]
    assert isinstance(low, int)
    return low


def _check_proportions(size: tuple[int, int], layout: Layout) -> None:
    width, height = size
    # width/height vs layout.width/layout.height, compared without dividing
    off = abs(width * layout.height - height * layout.width) / (height * layout.width)
    if off > _PROPORTION_TOLERANCE:
        raise FrameSizeMismatch(
            f"The frame is {width}x{height}; the layout is {layout.width}x{layout.height}. "
            "Upload a frame of the layout's size (or the same proportions).",
            width=width,
            height=height,
            expected_width=layout.width,
            expected_height=layout.height,
        )


@dataclass
class FrameCache:
    """Decoded frames by (key, output size, photo slot), least recently used dropped first
    once their decoded bytes exceed `max_bytes` (the newest is always kept)."""

    max_bytes: int = DEFAULT_FRAME_CACHE_BYTES
    hits: int = 0
    misses: int = 0
    _frames: OrderedDict[tuple[object, ...], Frame] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(
        self,
        key: str,
        layout: Layout,
        read: Callable[[], bytes],
        *,
        max_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_pixels: int = DEFAULT_MAX_FRAME_PIXELS,
    ) -> Frame:
        slot = layout.photo
        full_key = (key, layout.width, layout.height, slot.x, slot.y, slot.width, slot.height)
        with self._lock:
            frame = self._frames.get(full_key)
            if frame is not None:
                self._frames.move_to_end(full_key)
                self.hits += 1
                return frame
            self.misses += 1
        # Decoded outside the lock: two first requests may both decode; one result is kept.
        frame = load_frame(read(), layout, max_bytes=max_bytes, max_pixels=max_pixels)
        with self._lock:
            self._frames[full_key] = frame
            total = sum(f.nbytes for f in self._frames.values())
            while total > self.max_bytes and len(self._frames) > 1:
                _, dropped = self._frames.popitem(last=False)
                total -= dropped.nbytes
        return frame

    def discard(self, key: str) -> None:
        """Forget every decoded version of a frame (its template was deleted or replaced)."""
        with self._lock:
            for full_key in [k for k in self._frames if k[0] == key]:
                del self._frames[full_key]

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self.hits = self.misses = 0


frame_cache = FrameCache()
