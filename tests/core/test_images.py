"""Cleaning untrusted images: what is accepted, refused, and what comes out."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms

from admitone.core.images import (
    FileTooLarge,
    ImageTooLarge,
    InvalidImage,
    UnsupportedImageType,
    clean_image,
    read_limited,
)
from tests.factories import image_bytes

LIMITS = {"max_pixels": 40_000_000, "max_side": 2400}


def _decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def test_read_limited_reads_up_to_the_limit_and_refuses_one_byte_more() -> None:
    assert read_limited(io.BytesIO(b"x" * 10), 10) == b"x" * 10
    with pytest.raises(FileTooLarge) as caught:
        read_limited(io.BytesIO(b"x" * 11), 10)
    assert (caught.value.status, caught.value.code) == (413, "file_too_large")


def test_output_is_a_jpeg_whose_hash_and_size_describe_its_bytes() -> None:
    import hashlib

    clean = clean_image(image_bytes("PNG", (90, 60)), **LIMITS)
    assert (clean.content_type, clean.extension, clean.width, clean.height) == (
        "image/jpeg",
        "jpg",
        90,
        60,
    )
    assert clean.sha256 == hashlib.sha256(clean.data).hexdigest()
    assert clean.size_bytes == len(clean.data)
    assert _decoded(clean.data).format == "JPEG"


def test_big_jpeg_is_decoded_at_reduced_scale_and_bounded_to_max_side() -> None:
    clean = clean_image(image_bytes("JPEG", (6000, 4000)), **LIMITS)
    assert (clean.width, clean.height) == (2400, 1600)


def test_phone_multi_picture_jpeg_is_accepted() -> None:
    first, second = Image.new("RGB", (30, 20), "green"), Image.new("RGB", (30, 20), "red")
    mpo = _save(first, "MPO", save_all=True, append_images=[second])
    assert _decoded(mpo).format == "MPO"
    assert clean_image(mpo, **LIMITS).content_type == "image/jpeg"


def test_cmyk_grey16_and_palette_images_become_rgb() -> None:
    cmyk = _save(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG")
    red = _decoded(clean_image(cmyk, **LIMITS).data).convert("RGB").getpixel((10, 10))
    assert isinstance(red, tuple)
    assert red[0] > 200
    assert red[1] < 60
    grey16 = _save(Image.new("I;16", (20, 20), 0x8000), "PNG")
    grey = _decoded(clean_image(grey16, **LIMITS).data).convert("RGB").getpixel((10, 10))
    assert isinstance(grey, tuple)
    assert 120 <= grey[0] <= 136  # half of 16 bits is half of 8, not clipped to white
    palette = _save(Image.new("RGB", (20, 20), "blue").convert("P"), "PNG")
    assert clean_image(palette, **LIMITS).content_type == "image/jpeg"


def test_transparency_survives_as_webp_and_an_opaque_alpha_channel_does_not() -> None:
    clear = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    assert clean_image(_save(clear, "PNG"), **LIMITS).content_type == "image/webp"
    opaque = Image.new("RGBA", (20, 20), (255, 0, 0, 255))
    assert clean_image(_save(opaque, "PNG"), **LIMITS).content_type == "image/jpeg"
    keyed = Image.new("P", (20, 20), 0)
    keyed.info["transparency"] = 0
    assert clean_image(_save(keyed, "PNG", transparency=0), **LIMITS).content_type == ("image/webp")


def test_an_embedded_icc_profile_is_applied_then_dropped() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    source = _save(Image.new("RGB", (20, 20), "orange"), "JPEG", icc_profile=profile.tobytes())
    assert _decoded(source).info.get("icc_profile")
    clean = _decoded(clean_image(source, **LIMITS).data)
    assert not clean.info.get("icc_profile")
    damaged = _save(Image.new("RGB", (20, 20), "orange"), "JPEG", icc_profile=b"not a profile")
    assert clean_image(damaged, **LIMITS).content_type == "image/jpeg"


def test_refusals_carry_their_codes() -> None:
    with pytest.raises(UnsupportedImageType) as unsupported:
        clean_image(image_bytes("GIF", (10, 10)), **LIMITS)
    assert (unsupported.value.status, unsupported.value.extra) == (415, {"format": "GIF"})
    with pytest.raises(InvalidImage):
        clean_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>", **LIMITS)
    with pytest.raises(ImageTooLarge):
        clean_image(image_bytes("PNG", (101, 100)), max_pixels=10_000, max_side=50)
