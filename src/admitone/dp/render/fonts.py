"""The bundled fonts, which characters each one has, and the split of a text into runs that
each font can draw.

A layout names a font by a short key (`FONT_KEYS`). Each key has a chain of files: its own
face first, then the faces that cover what it lacks (Noto Sans for the serif faces' missing
letters, Droid Sans Fallback for Chinese, Japanese and Korean). Every character goes to the
first file of the chain whose character map has it, so a name is never drawn as tofu boxes.
Files and their licences: `admitone/dp/fonts/` (README there).

Which characters a file has is read from its own `cmap` table (formats 4 and 12, the ones
these TrueType files carry) once per process; no font library beyond Pillow is needed at run
time. Pillow font objects are made once per (file, size) and kept.
"""

from __future__ import annotations

import struct
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from PIL import ImageFont

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"

_SANS = "NotoSans-Regular.ttf"
_SANS_BOLD = "NotoSans-Bold.ttf"
_CJK = "DroidSansFallback.ttf"  # Han ideographs, kana, hangul (one weight only)

# key -> the files tried in order for each character.
FONT_CHAINS: dict[str, tuple[str, ...]] = {
    "sans": (_SANS, _CJK),
    "sans-bold": (_SANS_BOLD, _CJK),
    "serif": ("NotoSerif-Regular.ttf", _SANS, _CJK),
    "serif-bold": ("NotoSerif-Bold.ttf", _SANS_BOLD, _CJK),
}
FONT_KEYS: tuple[str, ...] = tuple(FONT_CHAINS)
DEFAULT_FONT = "sans"


class Coverage:
    """The code points a font maps to a glyph, as sorted disjoint ranges."""

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        merged: list[tuple[int, int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        self._starts = [r[0] for r in merged]
        self._ends = [r[1] for r in merged]

    def __contains__(self, char: object) -> bool:
        if not isinstance(char, str) or len(char) != 1:
            return False
        cp = ord(char)
        i = bisect_right(self._starts, cp) - 1
        return i >= 0 and cp <= self._ends[i]

    def __len__(self) -> int:
        return sum(e - s + 1 for s, e in zip(self._starts, self._ends, strict=True))


def read_cmap(data: bytes) -> Coverage:
    """The characters of an sfnt (TrueType/OpenType) font, from its best Unicode `cmap`
    subtable: format 12 (full Unicode) when present, else format 4 (the BMP)."""
    num_tables = struct.unpack_from(">H", data, 4)[0]
    cmap_offset = None
    for i in range(num_tables):
        tag, _checksum, offset, _length = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        if tag == b"cmap":
            cmap_offset = offset
    if cmap_offset is None:
        raise ValueError("the font has no cmap table")
    count = struct.unpack_from(">H", data, cmap_offset + 2)[0]
    subtables: dict[int, int] = {}  # format -> absolute offset, Unicode encodings only
    for i in range(count):
        platform, encoding, offset = struct.unpack_from(">HHI", data, cmap_offset + 4 + 8 * i)
        if platform == 0 or (platform == 3 and encoding in (1, 10)):
            at = cmap_offset + offset
            subtables.setdefault(struct.unpack_from(">H", data, at)[0], at)
    if 12 in subtables:
        return Coverage(_format12(data, subtables[12]))
    if 4 in subtables:
        return Coverage(_format4(data, subtables[4]))
    raise ValueError("the font has no Unicode cmap subtable of format 4 or 12")


def _format12(data: bytes, at: int) -> list[tuple[int, int]]:
    groups = struct.unpack_from(">I", data, at + 12)[0]
    ranges = []
    for i in range(groups):
        start, end, _glyph = struct.unpack_from(">III", data, at + 16 + 12 * i)
        ranges.append((start, end))
    return ranges


def _format4(data: bytes, at: int) -> list[tuple[int, int]]:
    segments = struct.unpack_from(">H", data, at + 6)[0] // 2
    ends_at = at + 14
    starts_at = ends_at + 2 * segments + 2
    deltas_at = starts_at + 2 * segments
    range_offsets_at = deltas_at + 2 * segments
    ranges: list[tuple[int, int]] = []
    for i in range(segments):
        end = struct.unpack_from(">H", data, ends_at + 2 * i)[0]
        start = struct.unpack_from(">H", data, starts_at + 2 * i)[0]
        delta = struct.unpack_from(">h", data, deltas_at + 2 * i)[0]
        range_offset = struct.unpack_from(">H", data, range_offsets_at + 2 * i)[0]
        for cp in range(start, min(end, 0xFFFE) + 1):
            if range_offset == 0:
                glyph = (cp + delta) & 0xFFFF
            else:
                where = range_offsets_at + 2 * i + range_offset + 2 * (cp - start)
                glyph = struct.unpack_from(">H", data, where)[0]
                glyph = (glyph + delta) & 0xFFFF if glyph else 0
            if glyph:
                if ranges and ranges[-1][1] == cp - 1:
                    ranges[-1] = (ranges[-1][0], cp)
                else:
                    ranges.append((cp, cp))
    return ranges


@cache
def coverage(file: str) -> Coverage:
    """The characters of a bundled font file, read once per process (two threads racing on
    the first call both read it; the result is the same)."""
    return read_cmap((FONT_DIR / file).read_bytes())


@lru_cache(maxsize=512)
def font(file: str, size: int) -> ImageFont.FreeTypeFont:
    """A bundled font at a pixel size, loaded once per process per size. Shared by threads:
    Pillow holds the GIL through its FreeType calls (and locks each font on free-threaded
    builds since 12.2), so one FT_Face is never used by two threads at once."""
    return ImageFont.truetype(str(FONT_DIR / file), size)


@dataclass(frozen=True)
class Run:
    """Consecutive characters drawn with one font file."""

    text: str
    file: str


class Uncovered(ValueError):
    """Letters or digits that no bundled font has."""

    def __init__(self, chars: str) -> None:
        super().__init__(chars)
        self.chars = chars


def split_runs(text: str, font_key: str) -> list[Run]:
    """`text` cut into runs, each drawn by the first font of the key's chain that has all of
    its characters. Spaces and combining marks stay with the run they are in when its font has
    them. A character no bundled font has is left out when it is a symbol, emoji or
    invisible (a variation selector, a joiner); letters and digits raise `Uncovered`, since
    leaving them out would change the name."""
    chain = FONT_CHAINS[font_key]
    runs: list[Run] = []
    missing: list[str] = []
    current: str | None = None
    buffer: list[str] = []
    last = ""
    for char in text:
        if char == " " and last in ("", " "):
            continue  # a left-out emoji leaves no double space behind
        kind = unicodedata.category(char)
        if current is not None and (char == " " or kind[0] == "M") and char in coverage(current):
            buffer.append(char)
            last = char
            continue
        chosen = next((f for f in chain if char in coverage(f)), None)
        if chosen is None:
            if kind[0] in "LN":
                missing.append(char)
            continue
        if chosen != current:
            if buffer and current is not None:
                runs.append(Run("".join(buffer), current))
            current, buffer = chosen, []
        buffer.append(char)
        last = char
    if missing:
        raise Uncovered("".join(dict.fromkeys(missing)))
    tail = "".join(buffer).rstrip(" ")
    if tail and current is not None:
        runs.append(Run(tail, current))
    return runs
