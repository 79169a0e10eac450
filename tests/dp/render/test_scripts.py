"""Names in Cyrillic, Greek, Chinese, Japanese and Korean are drawn with real glyphs, never
the notdef box ("tofu"), by falling back per run to a bundled font that has them."""

from __future__ import annotations

import pytest
from PIL import Image, ImageChops, ImageDraw

from admitone.dp.render import parse_layout
from admitone.dp.render.fonts import FONT_CHAINS, coverage, font, read_cmap, split_runs
from admitone.dp.render.text import draw, fit
from tests.dp.render.images import layout_dict

NAMES = {
    "cyrillic": "Юлия Щербакова",
    "greek": "Αλέξανδρος Παπαδόπουλος",
    "chinese": "李伟 王秀英",
    "japanese": "さとう はなこ 佐藤花子 カタカナ",
    "korean": "김민준 이서연",
    "vietnamese": "Nguyễn Thị Minh Khai",
    "mixed": "Ada 李 Ωμέγα 한",
}
NOTDEF = "\u0378"  # unassigned (and not default-ignorable): every font draws notdef


def _mask_bytes(file: str, char: str, size: int = 64) -> bytes:
    image = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(image).text((size // 2, size // 2), char, font=font(file, size), fill=255)
    return image.tobytes()


@pytest.mark.parametrize("font_key", sorted(FONT_CHAINS))
@pytest.mark.parametrize("script", sorted(NAMES))
def test_every_character_goes_to_a_font_whose_glyph_is_not_notdef(
    script: str, font_key: str
) -> None:
    runs = split_runs(NAMES[script], font_key)
    assert "".join(r.text for r in runs) == NAMES[script]
    for run in runs:
        notdef = _mask_bytes(run.file, NOTDEF)
        for char in run.text.replace(" ", ""):
            glyph = _mask_bytes(run.file, char)
            assert glyph != notdef, (script, font_key, char, run.file)
            assert any(glyph), (script, char)  # there is ink


@pytest.mark.parametrize("script", ["chinese", "japanese", "korean"])
def test_the_latin_face_alone_would_have_drawn_tofu(script: str) -> None:
    """The negative control: without the fallback these names would be notdef boxes."""
    primary = FONT_CHAINS["sans"][0]
    char = NAMES[script].replace(" ", "")[0]
    assert char not in coverage(primary)
    assert _mask_bytes(primary, char) == _mask_bytes(primary, NOTDEF)


@pytest.mark.parametrize("script", sorted(NAMES))
def test_rendered_name_differs_from_the_same_text_drawn_in_tofu(script: str) -> None:
    data = layout_dict()
    data["texts"][0].update(width=360, height=60, size=40)
    layout = parse_layout(data)
    slot = layout.texts[0]
    line = fit(slot, NAMES[script])
    assert line is not None
    canvas = Image.new("RGB", layout.size, (0, 0, 0))
    draw(ImageDraw.Draw(canvas, "RGBA"), slot, line)
    ours = canvas.convert("L")
    ink = ours.getbbox()
    assert ink is not None
    assert slot.x <= ink[0]
    assert ink[2] <= slot.x + slot.width
    assert slot.y <= ink[1]
    assert ink[3] <= slot.y + slot.height
    # the same characters, each as the chosen font's notdef box, at the same place
    tofu = Image.new("L", layout.size, 0)
    pen = ImageDraw.Draw(tofu)
    origin_x = ink[0]
    for placed in line.placed:
        boxes = "".join(" " if c == " " else NOTDEF for c in placed.run.text)
        pen.text((origin_x + placed.x, ink[3]), boxes, font=placed.font, fill=255, anchor="ls")
    differing = ImageChops.difference(ours, tofu).point(lambda v: 255 if v > 128 else 0)
    inked = ours.point(lambda v: 255 if v > 128 else 0)
    assert differing.histogram()[255] > 0.3 * inked.histogram()[255]


def test_cmap_reader_agrees_with_freetype_on_a_sample() -> None:
    """Our cmap reader against FreeType's own lookup (via Pillow): a character the reader says
    a font lacks is drawn as notdef; one it says the font has is not."""
    for file in {f for chain in FONT_CHAINS.values() for f in chain}:
        cov = read_cmap(_bytes(file))
        assert len(cov) > 2000
        notdef = _mask_bytes(file, NOTDEF, 24)
        for cp in list(range(0x20, 0x250, 7)) + list(range(0x370, 0x530, 5)) + [0x4E00, 0xAC00]:
            char = chr(cp)
            if char.isspace() or not char.isprintable():
                continue
            drawn = _mask_bytes(file, char, 24)
            if char in cov:
                assert drawn != notdef, (file, hex(cp))
            else:
                assert drawn == notdef, (file, hex(cp))


def _bytes(file: str) -> bytes:
    from admitone.dp.render.fonts import FONT_DIR

    return (FONT_DIR / file).read_bytes()
