"""An organization's logo on its passes: the wallet images and the PDF logo derived from
the stored upload (`orgs.service.logos`), once per process per stored file.

Apple Wallet (points at 1x; @2x and @3x are 2x and 3x the pixels): `icon.png` 29 x 29 (the
logo fitted into a transparent square) and `logo.png` at most 160 x 50 (the logo fitted,
its aspect kept). The PDFs draw one PNG fitted into 480 x 150 pixels (the @3x logo).

A stored key never changes its bytes (a new upload is a new file under a new key), so the
derived images are cached by key. Reading the blob is storage I/O: callers make documents
outside database transactions. A logo that cannot be read or decoded is logged and the
document uses the bundled images (a pass is never refused for its organization's logo).
"""

from __future__ import annotations

import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping

from PIL import Image, ImageOps

from admitone.core.errors import AppError
from admitone.core.images import ACCEPTED, open_untrusted
from admitone.integrations.storage import StorageError, storage_for
from admitone.settings import Settings

log = logging.getLogger(__name__)

ICON_POINTS = 29
LOGO_POINTS = (160, 50)
SCALES = {"": 1, "@2x": 2, "@3x": 3}
MAX_PIXELS = 40_000_000
_CACHED = 64  # organizations whose images a process keeps (~60 KB each)

_lock = threading.Lock()
_cache: OrderedDict[str, tuple[Mapping[str, bytes], bytes]] = OrderedDict()


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=6)
    return out.getvalue()


def _fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return ImageOps.contain(image, size, Image.Resampling.LANCZOS)


def _square(image: Image.Image, side: int) -> Image.Image:
    fitted = _fit(image, (side, side))
    canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    canvas.paste(fitted, ((side - fitted.width) // 2, (side - fitted.height) // 2))
    return canvas


def derive(data: bytes) -> tuple[dict[str, bytes], bytes]:
    """(the wallet images by name, the PDF logo PNG) of a logo's bytes; raises as
    `core.images.open_untrusted` does for bytes that are not an acceptable image."""
    image = open_untrusted(data, max_pixels=MAX_PIXELS, formats=ACCEPTED)
    with image:
        rgba = image.convert("RGBA")
    wallet: dict[str, bytes] = {}
    for suffix, scale in SCALES.items():
        wallet[f"icon{suffix}.png"] = _png(_square(rgba, ICON_POINTS * scale))
    for suffix, scale in SCALES.items():
        box = (LOGO_POINTS[0] * scale, LOGO_POINTS[1] * scale)
        wallet[f"logo{suffix}.png"] = _png(_fit(rgba, box))
    return wallet, wallet["logo@3x.png"]


def _load(settings: Settings, key: str) -> tuple[Mapping[str, bytes], bytes] | None:
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    try:
        derived = derive(storage_for(settings).get(key))
    except (StorageError, AppError) as exc:  # core.images refuses with AppErrors
        log.warning("organization logo %s not usable: %s", key, exc)
        return None
    with _lock:
        _cache[key] = derived
        while len(_cache) > _CACHED:
            _cache.popitem(last=False)
    return derived


def wallet_images(
    settings: Settings, key: str | None, bundled: Callable[[], Mapping[str, bytes]]
) -> Mapping[str, bytes]:
    """The images of a `.pkpass`: the organization's when `key` names a usable logo, else
    the bundled ones. The same dict object for every pass of an organization (so the zip
    records and manifest part made from it are reused)."""
    derived = _load(settings, key) if key else None
    return derived[0] if derived else bundled()


def pdf_logo(settings: Settings | None, key: str | None) -> bytes | None:
    """The PNG the ticket PDFs and badges draw, or None (no logo, or no settings given)."""
    if settings is None or not key:
        return None
    derived = _load(settings, key)
    return derived[1] if derived else None
