"""Photo intake: type from the bytes, limits before decoding, shrink-on-load, orientation,
HEIC, no metadata."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pillow_heif
import pytest
from PIL import Image

from admitone.dp.render import (
    FileTooLarge,
    ImageTooLarge,
    InvalidImage,
    UnsupportedImageType,
    open_photo,
)
from tests.dp.render.images import (
    BLUE,
    RED,
    exif_with_gps,
    jpeg_claiming,
    photo_bytes,
    png_header_only,
    two_tone,
)

LIMITS = {"max_bytes": 5_000_000, "max_pixels": 20_000_000}


def _close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def _assert_upright(image: Image.Image) -> None:
    width, height = image.size
    top = image.getpixel((width // 2, height // 8))
    bottom = image.getpixel((width // 2, height * 7 // 8))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert _close(top, RED), top
    assert _close(bottom, BLUE), bottom


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_is_applied(orientation: int) -> None:
    upright = two_tone(300, 400)
    data = photo_bytes(upright, orientation=orientation)
    stored = Image.open(io.BytesIO(data))
    assert stored.size == ((400, 300) if orientation in (6, 8) else (300, 400))
    photo = open_photo(data, **LIMITS)
    assert photo.size == (300, 400)
    _assert_upright(photo)


@pytest.mark.parametrize("orientation", [1, 6])
def test_no_metadata_survives_intake(orientation: int) -> None:
    data = photo_bytes(two_tone(300, 400), orientation=orientation)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # GPS going in
    photo = open_photo(data, **LIMITS)
    assert photo.mode == "RGB"
    assert photo.info == {}
    assert len(photo.getexif()) == 0


def test_jpeg_is_shrunk_on_load_to_what_covers_the_slot() -> None:
    data = photo_bytes(two_tone(2400, 3200), orientation=6, quality=80)
    photo = open_photo(data, **LIMITS, cover=(250, 250))
    # draft() scales by 1/2..1/8: the smallest that still covers 250x250 is 1/8 (300x400)
    assert photo.size == (300, 400)
    _assert_upright(photo)
    assert open_photo(data, **LIMITS).size == (2400, 3200)  # no slot: full size


def test_other_formats_are_reduced_after_decoding_to_about_twice_the_slot() -> None:
    data = photo_bytes(two_tone(2000, 2000), "PNG")
    photo = open_photo(data, **LIMITS, cover=(200, 200))
    assert 400 <= min(photo.size) < 800
    _assert_upright(photo)


def test_heic_from_a_phone_with_gps_comes_out_clean() -> None:
    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    two_tone(320, 240).save(out, "HEIF", quality=90, exif=exif_with_gps().tobytes())
    data = out.getvalue()
    assert data[4:8] == b"ftyp"
    with Image.open(io.BytesIO(data)) as original:
        assert original.format == "HEIF"
        assert original.getexif().get_ifd(0x8825)[1] == "N"  # the GPS is there going in
    photo = open_photo(data, **LIMITS)
    assert photo.size == (320, 240)
    assert photo.info == {}
    assert len(photo.getexif()) == 0
    top, bottom = photo.getpixel((160, 20)), photo.getpixel((160, 220))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert _close(top, RED, 50)
    assert _close(bottom, BLUE, 50)


@pytest.mark.parametrize(("fmt", "mode"), [("PNG", "RGBA"), ("WEBP", "RGBA"), ("PNG", "P")])
def test_png_and_webp_accepted_transparency_flattened_on_white(fmt: str, mode: str) -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    image.paste((200, 0, 0, 255), (0, 0, 50, 100))
    if mode == "P":
        image = image.convert("P")
    out = io.BytesIO()
    image.save(out, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    photo = open_photo(out.getvalue(), **LIMITS)
    assert photo.mode == "RGB"
    left, right = photo.getpixel((10, 50)), photo.getpixel((90, 50))
    assert isinstance(left, tuple)
    assert isinstance(right, tuple)
    assert _close(left, (200, 0, 0), 10)
    assert _close(right, (255, 255, 255), 10)


@pytest.mark.parametrize(
    "data", [b"just some text\n" * 10, b"", b"%PDF-1.7\n%\xe2\xe3\n1 0 obj\n", b"\x00" * 64]
)
def test_non_images_are_unsupported_media(data: bytes) -> None:
    with pytest.raises(UnsupportedImageType) as refused:
        open_photo(data, **LIMITS)
    assert (refused.value.status, refused.value.code) == (415, "unsupported_image_type")
    assert "HEIC" in refused.value.detail


def test_other_image_types_are_named_in_the_refusal() -> None:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "GIF")
    with pytest.raises(UnsupportedImageType) as refused:
        open_photo(out.getvalue(), **LIMITS)
    assert refused.value.extra == {"format": "GIF"}


def test_truncated_jpeg_is_invalid_image() -> None:
    data = photo_bytes(two_tone(300, 400))
    with pytest.raises(InvalidImage) as refused:
        open_photo(data[: len(data) // 2], **LIMITS)
    assert (refused.value.status, refused.value.code) == (422, "invalid_image")


def test_byte_limit() -> None:
    data = photo_bytes(two_tone(300, 400))
    assert open_photo(data, max_bytes=len(data), max_pixels=10**6).size == (300, 400)
    with pytest.raises(FileTooLarge) as refused:
        open_photo(data, max_bytes=len(data) - 1, max_pixels=10**6)
    assert (refused.value.status, refused.value.code) == (413, "file_too_large")


def test_pixel_limit_is_checked_from_the_header() -> None:
    data = photo_bytes(two_tone(300, 400))
    assert open_photo(data, max_bytes=10**6, max_pixels=120_000).size == (300, 400)
    with pytest.raises(ImageTooLarge) as refused:
        open_photo(data, max_bytes=10**6, max_pixels=119_999)
    assert (refused.value.status, refused.value.code) == (422, "image_too_large")
    assert (refused.value.extra["width"], refused.value.extra["height"]) == (300, 400)


@pytest.mark.parametrize(
    "bomb",
    [png_header_only(40_000, 40_000), jpeg_claiming(60_000, 60_000)],
    ids=["png-1.6-gigapixel", "jpeg-3.6-gigapixel"],
)
def test_decompression_bomb_refused_before_decoding(bomb: bytes) -> None:
    assert len(bomb) < 2_000
    started = time.process_time()
    with pytest.raises(ImageTooLarge):
        open_photo(bomb, max_bytes=10**6, max_pixels=50_000_000)
    assert time.process_time() - started < 0.5


def test_over_pillows_own_limit_is_an_error_not_a_warning() -> None:
    """Pillow only warns between MAX_IMAGE_PIXELS and twice that; here it is refused even
    when the caller's own limit is higher."""
    pixels = Image.MAX_IMAGE_PIXELS
    assert pixels is not None
    side = int((pixels * 1.2) ** 0.5)
    with pytest.raises(ImageTooLarge):
        open_photo(png_header_only(side, side), max_bytes=10**6, max_pixels=10**12)


def test_bomb_refusal_needs_no_memory_for_pixels() -> None:
    """In a fresh process (peak RSS is per process): refusing a 1.6-gigapixel PNG and a
    3.6-gigapixel JPEG leaves the peak where importing put it (decoding would need GBs)."""
    code = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from admitone.dp.render import ImageTooLarge, open_photo
        from tests.dp.render.images import jpeg_claiming, png_header_only

        def hwm():
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
            return 0

        before = hwm()
        for bomb in (png_header_only(40_000, 40_000), jpeg_claiming(60_000, 60_000)):
            try:
                open_photo(bomb, max_bytes=10**6, max_pixels=50_000_000)
            except ImageTooLarge:
                pass
            else:
                sys.exit("decoded a bomb")
        print(before, hwm())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    before, after = (int(x) for x in done.stdout.split())
    assert after - before < 10, (before, after)


def test_heic_opens_in_a_process_where_nothing_registered_it(tmp_path: Path) -> None:
    """pillow-heif is loaded on the first HEIC photo (it costs a JPEG-only worker ~7 MiB)."""
    pillow_heif.register_heif_opener()
    heic = tmp_path / "photo.heic"
    two_tone(64, 48).save(heic, "HEIF", quality=80)
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from admitone.dp.render import open_photo
        assert "pillow_heif" not in sys.modules
        photo = open_photo(Path({str(heic)!r}).read_bytes())
        print(photo.size, "pillow_heif" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["(64,", "48)", "True"]


def _saved(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("mode", "fmt", "options"),
    [
        ("CMYK", "JPEG", {}),
        ("L", "JPEG", {}),
        ("1", "PNG", {}),
        ("P", "PNG", {}),
        ("LA", "PNG", {}),
        ("I;16", "PNG", {}),
        ("RGB", "MPO", {"save_all": True}),
    ],
)
def test_every_mode_a_photo_comes_in_is_made_rgb_at_a_reduced_size(
    mode: str, fmt: str, options: dict[str, Any]
) -> None:
    if mode == "I;16":  # 16-bit grey: two halves far apart on the 0-65535 scale
        image = Image.new("I;16", (1200, 1600), 60_000)
        image.paste(10_000, (0, 800, 1200, 1600))
    else:
        image = two_tone(1200, 1600).convert(mode)
    if fmt == "MPO":
        options = {**options, "append_images": [image]}
    photo = open_photo(_saved(image, fmt, **options), **LIMITS, cover=(250, 250))
    assert photo.mode == "RGB"
    assert 250 <= min(photo.size) <= 600
    top, bottom = (
        photo.getpixel((photo.width // 2, 5)),
        photo.getpixel((photo.width // 2, photo.height - 5)),
    )
    assert top != bottom  # the two halves are still told apart
