"""render_dp end to end on real images: frames and transparency, masks, texts that shrink
and stay in their box, scripts that fall back to a font that has them, no metadata out."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageChops

from admitone.dp.render import (
    FrameSizeMismatch,
    InvalidText,
    MissingText,
    Rendered,
    UnsupportedImageType,
    frame_cache,
    load_frame,
    open_photo,
    parse_layout,
    render_dp,
    render_preview,
)
from admitone.dp.render.frame import FrameCache
from tests.dp.render.images import (
    BLUE,
    FRAME_COLOUR,
    RED,
    frame_with_hole,
    layout_dict,
    photo_bytes,
    png_bytes,
    two_tone,
)

LIMITS = {"max_bytes": 5_000_000, "max_pixels": 20_000_000}
SLOT = (100, 40, 300, 240)  # layout_dict's photo slot as a box


def _decode(rendered: Rendered) -> Image.Image:
    image = Image.open(io.BytesIO(rendered.data))
    image.load()
    return image


def _pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.convert("RGB").getpixel(xy)
    assert isinstance(value, tuple)
    return value


def _close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def _layout(**overrides: Any) -> Any:
    return parse_layout(layout_dict(**overrides))


def _photo(orientation: int = 6) -> Image.Image:
    data = photo_bytes(two_tone(600, 800), orientation=orientation)
    return open_photo(data, **LIMITS, cover=(200, 200))


def test_photo_shows_through_the_frames_transparency_and_not_through_opaque_parts() -> None:
    layout = _layout()
    # a hole smaller than the slot: the frame's opaque border covers the slot's edge
    frame = load_frame(png_bytes(frame_with_hole((400, 400), (120, 60, 279, 219))), layout)
    assert frame.photo_under
    out = _decode(render_dp(frame, layout, _photo(), {"name": "Ada"}))
    assert _close(_pixel(out, (200, 80)), RED)  # in the hole, upper half of the photo: red
    assert _close(_pixel(out, (200, 200)), BLUE)  # in the hole, lower half: blue
    assert _close(_pixel(out, (105, 45)), FRAME_COLOUR)  # in the slot, under opaque frame
    assert _close(_pixel(out, (10, 10)), FRAME_COLOUR)  # outside the slot


def test_exif_orientation_honoured_in_the_output() -> None:
    layout = _layout()
    frame = load_frame(png_bytes(frame_with_hole((400, 400), SLOT)), layout)
    for orientation in (1, 3, 6, 8):
        out = _decode(render_dp(frame, layout, _photo(orientation), {"name": "Ada"}))
        assert _close(_pixel(out, (200, 60)), RED), orientation
        assert _close(_pixel(out, (200, 220)), BLUE), orientation


def test_output_carries_no_exif_gps_or_any_metadata() -> None:
    raw = photo_bytes(two_tone(600, 800), orientation=6)
    assert b"SecretCam" in raw
    for fmt in ("jpeg", "png"):
        layout = _layout(format=fmt)
        frame = load_frame(png_bytes(frame_with_hole((400, 400), SLOT)), layout)
        photo = open_photo(raw, **LIMITS, cover=layout.photo.size)
        rendered = render_dp(frame, layout, photo, {"name": "Ada"})
        assert rendered.content_type == f"image/{fmt}"
        assert (rendered.width, rendered.height) == (400, 400)
        for marker in (b"Exif", b"SecretCam", b"PhoneOS", b"eXIf", b"tEXt", b"iCCP", b"zTXt"):
            assert marker not in rendered.data, (fmt, marker)
        out = _decode(rendered)
        assert out.format == fmt.upper()
        assert len(out.getexif()) == 0
        assert not set(out.info) & {"exif", "icc_profile", "xmp", "comment", "XML:com.adobe.xmp"}


def test_an_opaque_frame_is_a_background_and_the_photo_goes_over_it_in_its_shape() -> None:
    layout = _layout(photo={"x": 100, "y": 40, "width": 200, "height": 200, "shape": "circle"})
    jpeg = io.BytesIO()
    Image.new("RGB", (400, 400), FRAME_COLOUR).save(jpeg, "JPEG", quality=95)
    frame = load_frame(jpeg.getvalue(), layout)
    assert frame.alpha is None
    assert not frame.photo_under
    out = _decode(render_dp(frame, layout, _photo(), {"name": "Ada"}))
    assert _close(_pixel(out, (200, 70)), RED)  # inside the circle
    assert _close(_pixel(out, (200, 210)), BLUE)
    assert _close(_pixel(out, (103, 43)), FRAME_COLOUR)  # the slot's corner, outside the circle


def test_rounded_slot_is_antialiased_at_its_corners() -> None:
    layout = _layout(
        photo={"x": 100, "y": 40, "width": 200, "height": 200, "shape": "rounded", "radius": 40}
    )
    frame = load_frame(png_bytes(Image.new("RGB", (400, 400), FRAME_COLOUR)), layout)
    out = _decode(render_dp(frame, layout, _photo(), {"name": "Ada"})).convert("RGB")
    assert _close(_pixel(out, (101, 41)), FRAME_COLOUR)  # cut-off corner
    assert _close(_pixel(out, (200, 41)), RED)  # top edge, away from the corners
    edge = [_pixel(out, (100 + i, 40 + i)) for i in range(4, 20)]
    blended = [p for p in edge if not _close(p, FRAME_COLOUR, 12) and not _close(p, RED, 12)]
    assert blended, "an anti-aliased edge has pixels between the two colours"


def _text_ink(layout_data: dict[str, Any], texts: dict[str, str]) -> Image.Image:
    """The texts' ink alone: a render minus the same render without texts."""
    layout = parse_layout({**layout_data, "format": "png"})
    plain = Image.new("RGB", (layout.width, layout.height), (0, 0, 0))
    frame = load_frame(png_bytes(plain), layout)
    with_text = _decode(render_dp(frame, layout, None, texts)).convert("L")
    without = _decode(render_dp(frame, layout, None, {})).convert("L")
    return ImageChops.difference(with_text, without)


def _no_required(data: dict[str, Any]) -> dict[str, Any]:
    for text in data["texts"]:
        text["required"] = False
    return data


def test_a_long_name_is_shrunk_and_its_ink_stays_inside_its_box() -> None:
    data = _no_required(layout_dict())
    box = (20, 270, 20 + 360, 270 + 60)
    short = _text_ink(data, {"name": "Ada"}).getbbox()
    long_name = "Maximilian Alexander von Hohenberg-Schwarz zu Wittgenstein-Berleburg"
    ink = _text_ink(data, {"name": long_name}).getbbox()
    assert short is not None
    assert ink is not None
    left, top, right, bottom = ink
    assert left >= box[0], ink
    assert top >= box[1], ink
    assert right <= box[2], ink
    assert bottom <= box[3], ink
    assert right - left > 300  # it uses the box's width...
    assert bottom - top < (short[3] - short[1]) * 0.6  # ...at a smaller size


def test_a_name_too_long_for_the_smallest_size_is_cut_with_an_ellipsis() -> None:
    data = _no_required(layout_dict())
    data["texts"][0].update(width=60, x=170)
    ink = _text_ink(data, {"name": "Wolfeschlegelsteinhausenbergerdorff Senior"}).getbbox()
    assert ink is not None
    assert ink[0] >= 170
    assert ink[2] <= 230
    assert ink[1] >= 270
    assert ink[3] <= 330


@pytest.mark.parametrize("align", ["left", "center", "right"])
def test_alignment(align: str) -> None:
    data = _no_required(layout_dict())
    data["texts"][0]["align"] = align
    ink = _text_ink(data, {"name": "Ada"}).getbbox()
    assert ink is not None
    middle = (ink[0] + ink[2]) / 2
    expected = {"left": 20, "center": 200, "right": 380}[align]
    if align == "left":
        assert ink[0] - expected <= 8
    elif align == "right":
        assert expected - ink[2] <= 8
    else:
        assert abs(middle - expected) <= 4


def test_a_short_box_shrinks_the_text_to_its_height() -> None:
    data = _no_required(layout_dict())
    data["texts"][0].update(height=20, size=48, y=290)
    ink = _text_ink(data, {"name": "Ada Lovelace"}).getbbox()
    assert ink is not None
    assert ink[1] >= 290
    assert ink[3] <= 310


def test_uppercase_and_colour() -> None:
    data = _no_required(layout_dict())
    data["texts"][0].update(uppercase=True, color="#ff0000")
    layout = parse_layout({**data, "format": "png"})
    frame = load_frame(png_bytes(Image.new("RGB", (400, 400), (0, 0, 0))), layout)
    upper = render_dp(frame, layout, None, {"name": "ADA"}).data
    assert render_dp(frame, layout, None, {"name": "ada"}).data == upper
    red = _decode(render_dp(frame, layout, None, {"name": "MMMM"})).convert("RGB")
    colours = red.crop((20, 270, 380, 330)).getcolors(maxcolors=100_000) or []
    most_inked = max((c for c in colours if c[1] != (0, 0, 0)), key=lambda c: c[0])[1]
    assert _close(most_inked, (255, 0, 0), 10)


def test_required_text_missing_or_blank_names_its_key() -> None:
    layout = _layout()
    frame = load_frame(png_bytes(Image.new("RGB", (400, 400))), layout)
    for texts in ({}, {"name": "   "}, {"name": "\u200b\u0007"}, {"title": "Speaker"}):
        with pytest.raises(MissingText) as refused:
            render_dp(frame, layout, None, texts)
        assert (refused.value.status, refused.value.code) == (422, "missing_text")
        assert refused.value.extra == {"key": "name"}


def test_unknown_key_too_long_or_undrawable_letters_are_invalid_text() -> None:
    layout = _layout()
    frame = load_frame(png_bytes(Image.new("RGB", (400, 400))), layout)
    with pytest.raises(InvalidText) as unknown:
        render_dp(frame, layout, None, {"name": "Ada", "nmae": "x"})
    assert unknown.value.extra["key"] == "nmae"
    with pytest.raises(InvalidText) as too_long:
        render_dp(frame, layout, None, {"name": "A" * 121})
    assert too_long.value.extra["key"] == "name"
    with pytest.raises(InvalidText) as huge:
        render_dp(frame, layout, None, {"name": "A" * 1_000_000})
    assert huge.value.extra["max_length"] == 120
    with pytest.raises(InvalidText) as number:
        render_dp(frame, layout, None, {"name": 42})  # type: ignore[dict-item]
    assert number.value.extra["key"] == "name"
    with pytest.raises(InvalidText) as devanagari:
        render_dp(frame, layout, None, {"name": "नमस्ते"})
    assert devanagari.value.code == "invalid_text"
    assert "न" in devanagari.value.extra["characters"]
    # emoji no font has are left out; the name is drawn
    assert render_dp(frame, layout, None, {"name": "Ada 🎉\ufe0f"}).data


def test_frame_must_have_the_layouts_proportions_or_is_scaled() -> None:
    layout = _layout()
    double = load_frame(png_bytes(frame_with_hole((800, 800), (200, 80, 599, 479))), layout)
    assert double.size == (400, 400)
    assert double.photo_under
    with pytest.raises(FrameSizeMismatch) as refused:
        load_frame(png_bytes(Image.new("RGBA", (400, 300))), layout)
    assert refused.value.code == "frame_size_mismatch"
    assert refused.value.extra["expected_width"] == 400
    gif = io.BytesIO()
    Image.new("RGB", (400, 400)).save(gif, "GIF")
    with pytest.raises(UnsupportedImageType):
        load_frame(gif.getvalue(), layout)
    with pytest.raises(UnsupportedImageType):
        load_frame(b"<svg/>", layout)


def test_frames_are_decoded_once_per_process() -> None:
    layout = _layout()
    reads: list[int] = []
    data = png_bytes(frame_with_hole((400, 400), SLOT))

    def read() -> bytes:
        reads.append(1)
        return data

    cache = FrameCache(max_bytes=10 * 400 * 400 * 4)
    first = cache.get("file_1", layout, read)
    assert cache.get("file_1", layout, read) is first
    assert len(reads) == 1
    assert (cache.hits, cache.misses) == (1, 1)
    # another slot geometry is another decoded frame; eviction keeps memory bounded
    moved = parse_layout(layout_dict(photo={"x": 0, "y": 0, "width": 100, "height": 100}))
    assert cache.get("file_1", moved, read) is not first
    small = FrameCache(max_bytes=400 * 400 * 4)
    small.get("a", layout, read)
    small.get("b", layout, read)
    small.get("a", layout, read)
    assert small.misses == 3
    cache.discard("file_1")
    cache.get("file_1", layout, read)
    assert len(reads) == 6
    assert frame_cache.max_bytes > 0


def test_preview_uses_a_sample_photo_and_texts() -> None:
    layout = _layout()
    frame = load_frame(png_bytes(frame_with_hole((400, 400), SLOT)), layout)
    out = _decode(render_preview(frame, layout)).convert("RGB")
    assert out.size == (400, 400)
    slot = out.crop(SLOT)
    assert len(slot.getcolors(maxcolors=100_000) or []) > 50  # a picture, not a flat fill
    text_area = out.crop((20, 270, 380, 330)).convert("L")
    assert text_area.getextrema()[1] > 200  # white sample name on the green frame


def test_renders_from_many_threads_share_frames_and_fonts_and_agree() -> None:
    """A server renders in a thread pool: the cached frame, masks and fonts are shared, and
    every thread gets the same bytes as a render done alone."""
    from concurrent.futures import ThreadPoolExecutor

    data = layout_dict(photo={"x": 100, "y": 40, "width": 200, "height": 200, "shape": "circle"})
    layout = parse_layout(data)
    frame_png = png_bytes(frame_with_hole((400, 400), SLOT))
    cache = FrameCache()
    photo_data = photo_bytes(two_tone(600, 800), orientation=6)
    names = ["Ada Lovelace", "李伟", "Юлия Щербакова", "Maximilian von Hohenberg-Schwarz"]

    def one(i: int) -> bytes:
        frame = cache.get("frame", layout, lambda: frame_png)
        photo = open_photo(photo_data, **LIMITS, cover=layout.photo.size)
        return render_dp(frame, layout, photo, {"name": names[i % 4], "title": "Speaker"}).data

    alone = [one(i) for i in range(4)]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(one, range(32)))
    assert all(out == alone[i % 4] for i, out in enumerate(together))
    assert (cache.misses, cache.hits) == (1, 35)


def test_a_palette_png_frame_with_a_transparent_hole() -> None:
    layout = _layout()
    frame_image = frame_with_hole((400, 400), SLOT).convert("P")  # one colour is transparent
    assert frame_image.mode == "P"
    frame = load_frame(png_bytes(frame_image), layout)
    assert frame.photo_under
    out = _decode(render_dp(frame, layout, _photo(), {"name": "Ada"}))
    assert _close(_pixel(out, (200, 60)), RED)
    assert _close(_pixel(out, (10, 10)), FRAME_COLOUR)
