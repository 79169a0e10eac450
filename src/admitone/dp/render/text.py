"""Text slots: a value cleaned, cut into font runs, shrunk until its ink fits the slot's box
(width and height), cut with an ellipsis when even the smallest size is too wide, aligned,
and drawn. The ink never leaves the box.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from PIL import ImageDraw, ImageFont

from admitone.dp.render.errors import InvalidText
from admitone.dp.render.fonts import Run, Uncovered, font, split_runs
from admitone.dp.render.layout import MIN_FONT_SIZE, TextSlot

MAX_TEXT_CHARS = 120
ELLIPSIS = "\u2026"
_SPACES = re.compile(r"\s+")
_INSET = 1  # pixels kept free inside the box for anti-aliasing


def clean_text(slot: TextSlot, value: str) -> str:
    """NFC, one line, no control or format characters, upper-cased when the slot says so;
    `invalid_text` when longer than MAX_TEXT_CHARS."""
    if len(value) > 4 * MAX_TEXT_CHARS:  # before any work on it
        raise InvalidText(
            slot.key,
            f"The text '{slot.key}' is longer than {MAX_TEXT_CHARS} characters.",
            max_length=MAX_TEXT_CHARS,
        )
    value = unicodedata.normalize("NFC", value)
    kept = "".join(c for c in value if not unicodedata.category(c).startswith("C"))
    value = _SPACES.sub(" ", kept).strip()
    if len(value) > MAX_TEXT_CHARS:
        raise InvalidText(
            slot.key,
            f"The text '{slot.key}' is longer than {MAX_TEXT_CHARS} characters.",
            max_length=MAX_TEXT_CHARS,
        )
    return value.upper() if slot.uppercase else value


@dataclass(frozen=True)
class _Placed:
    run: Run
    font: ImageFont.FreeTypeFont
    x: float  # pen position relative to the line's origin


@dataclass(frozen=True)
class Line:
    """A text laid out on one baseline at one size; ink box relative to the pen origin."""

    size: int
    placed: tuple[_Placed, ...]
    advance: float
    ascent: int
    descent: int
    ink: tuple[float, float, float, float]  # left, top, right, bottom

    @property
    def ink_width(self) -> float:
        return self.ink[2] - self.ink[0]

    @property
    def ink_height(self) -> float:
        return self.ink[3] - self.ink[1]


def measure(runs: list[Run], size: int) -> Line:
    placed: list[_Placed] = []
    pen = 0.0
    left = top = math.inf
    right = bottom = -math.inf
    ascent = descent = 0
    for run in runs:
        face = font(run.file, size)
        x0, y0, x1, y1 = face.getbbox(run.text, anchor="ls")
        if x1 > x0:  # a run of spaces has no ink
            left, right = min(left, pen + x0), max(right, pen + x1)
            top, bottom = min(top, y0), max(bottom, y1)
        a, d = face.getmetrics()
        ascent, descent = max(ascent, a), max(descent, d)
        placed.append(_Placed(run, face, pen))
        pen += face.getlength(run.text)
    if left == math.inf:
        left = right = top = bottom = 0.0
    return Line(size, tuple(placed), pen, ascent, descent, (left, top, right, bottom))


def _fits(line: Line, width: int, height: int) -> bool:
    return line.ink_width <= width and line.ink_height <= height


def fit(slot: TextSlot, text: str) -> Line | None:
    """The largest size up to the slot's own at which `text` fits its box; at the smallest
    size, as many characters as fit followed by an ellipsis. None for an empty text."""
    try:
        runs = split_runs(text, slot.font)
    except Uncovered as exc:
        raise InvalidText(
            slot.key,
            f"The text '{slot.key}' has characters no bundled font can draw: {exc.chars}",
            characters=exc.chars,
        ) from None
    if not runs:
        return None
    width, height = slot.width - 2 * _INSET, slot.height - 2 * _INSET
    size = slot.size
    line = measure(runs, size)
    if not _fits(line, width, height):
        # a proportional guess first, then down one pixel at a time
        ratio = min(width / max(line.ink_width, 1), height / max(line.ink_height, 1))
        size = max(MIN_FONT_SIZE, min(size - 1, int(size * ratio)))
        line = measure(runs, size)
        while size > MIN_FONT_SIZE and not _fits(line, width, height):
            size -= 1
            line = measure(runs, size)
    chars = len(text)
    while not _fits(line, width, height) and chars > 0:
        chars -= 1
        runs = split_runs(text[:chars].rstrip() + ELLIPSIS, slot.font)
        line = measure(runs, size)
    if not _fits(line, width, height):
        return None  # not even an ellipsis fits (a box smaller than the smallest size)
    return line


def draw(canvas: ImageDraw.ImageDraw, slot: TextSlot, line: Line) -> None:
    """Draws a fitted line in its slot: aligned by advance width, centred vertically on the
    fonts' ascent and descent (one baseline whatever the letters), then nudged so that the
    ink stays inside the box."""
    left_edge, right_edge = slot.x + _INSET, slot.x + slot.width - _INSET
    top_edge, bottom_edge = slot.y + _INSET, slot.y + slot.height - _INSET
    if slot.align == "left":
        x = float(left_edge)
    elif slot.align == "right":
        x = right_edge - line.advance
    else:
        x = slot.x + (slot.width - line.advance) / 2
    x = max(x, left_edge - line.ink[0])
    x = min(x, right_edge - line.ink[2])
    baseline = slot.y + slot.height / 2 + (line.ascent - line.descent) / 2
    baseline = max(baseline, top_edge - line.ink[1])
    baseline = min(baseline, bottom_edge - line.ink[3])
    # whole pixels: the ink box measured is the ink drawn
    x, baseline = math.floor(x), math.floor(baseline)
    for placed in line.placed:
        canvas.text(
            (x + placed.x, baseline),
            placed.run.text,
            font=placed.font,
            fill=slot.rgba,
            anchor="ls",
        )
