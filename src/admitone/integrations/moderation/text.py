# ruff: noqa: RUF001, RUF003  (the homoglyph table is made of look-alike letters on purpose)
"""Word lists for text fields (names, titles, report reasons): one compiled regex.

The text is normalised first (NFKC, case folding, accents and invisible format characters
removed, Cyrillic and Greek letters that look Latin mapped to the Latin letter); each entry
becomes a pattern in which every letter also matches its usual stand-ins (`0` for o, `1`,
`!`, `|` for i and l, `3` for e, `4` and `@` for a, `5` and `$` for s, `7` and `+` for t)
and may repeat (`fuuuck`), and the whole entry must stand alone: no letter or digit right
before or after it, so "Scunthorpe", "classic" and "assassin" stay allowed.

Lists live in `wordlists/<lang>.txt`: one `block <entry>` or `review <entry>` per line,
`#` comments (each file names its source and licence at the top).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from admitone.integrations.moderation.base import Decision, Verdict

WORDLISTS = Path(__file__).resolve().parent / "wordlists"

# Cyrillic and Greek letters drawn like Latin ones (lower case: the text is case-folded
# first), so "fսck" or "сunt" written with them is read as Latin.
_HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "һ": "h", "і": "i",
        "ї": "i", "ј": "j", "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o", "р": "p",
        "ԛ": "q", "г": "r", "ѕ": "s", "т": "t", "ц": "u", "у": "y", "ѵ": "v", "ԝ": "w",
        "х": "x", "ү": "y", "з": "3", "ь": "b",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
        "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "ς": "c", "σ": "o",
        # Latin look-alikes outside ASCII that NFKC keeps
        "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŀ": "l",
    }
)  # fmt: skip

# What may stand in for a letter of an entry.
_STAND_INS = {
    "a": "a4@",
    "e": "e3€",
    # i and l stand in for each other (and "1", "!", "|" for both): one class for the two,
    # so "dlck" and "dick" are one pattern.
    "i": "il1!|",
    "l": "il1!|",
    "o": "o0",
    "s": "s5$",
    "t": "t7+",
    "g": "g9",
    "b": "b8",
}
# Entries are written with letters; a digit or symbol in an entry is read as its letter.
_ENTRY_LETTERS = str.maketrans(
    {"0": "o", "1": "i", "!": "i", "|": "i", "3": "e", "4": "a", "@": "a", "5": "s",
     "$": "s", "7": "t", "+": "t"}
)  # fmt: skip
_NOT_INSIDE_A_WORD = r"(?<![^\W_])"
_NOT_FOLLOWED_BY_A_WORD = r"(?![^\W_])"


def normalize(text: str) -> str:
    """The form entries are matched against: NFKC, case-folded, without accents or
    invisible format characters (zero-width spaces, soft hyphens), homoglyphs mapped."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFKD", folded)
    kept = "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Cf"))
    return unicodedata.normalize("NFC", kept).translate(_HOMOGLYPHS)


def _entry_pattern(entry: str) -> str:
    parts = []
    for c in normalize(entry).translate(_ENTRY_LETTERS):
        if c.isspace() or c in "-_.":
            parts.append(r"[\s_.\-]*")  # "blow job", "blow-job", "blowjob"
        elif c in _STAND_INS:
            parts.append(f"[{re.escape(_STAND_INS[c])}]+")
        elif c.isalnum():
            parts.append(f"{re.escape(c)}+")
        else:
            parts.append(re.escape(c))
    return "".join(parts)


@dataclass(frozen=True)
class WordList:
    block: tuple[str, ...]
    review: tuple[str, ...]

    @classmethod
    def load(cls, languages: Iterable[str], directory: Path = WORDLISTS) -> WordList:
        block: list[str] = []
        review: list[str] = []
        for lang in languages:
            if not re.fullmatch(r"[a-z]{2,3}", lang):
                raise ValueError(f"word list language must be a language code: {lang!r}")
            path = directory / f"{lang}.txt"
            if not path.is_file():
                raise ValueError(f"no word list for language {lang!r} ({path})")
            for number, raw in enumerate(path.read_text("utf-8").splitlines(), 1):
                line = raw.split("#", 1)[0].strip()
                if not line:
                    continue
                kind, _, entry = line.partition(" ")
                entry = entry.strip()
                if kind not in ("block", "review") or not entry:
                    raise ValueError(
                        f"{path}:{number}: expected 'block <entry>' or 'review <entry>'"
                    )
                (block if kind == "block" else review).append(entry)
        return cls(tuple(block), tuple(review))

    def compile(self) -> re.Pattern[str]:
        def alternation(patterns: set[str]) -> str:
            return "|".join(sorted(patterns, key=len, reverse=True)) or r"(?!x)x"

        review = {_entry_pattern(e) for e in self.review}
        # A spelling variant of a review entry ("d1ck" listed as block, "dick" as review)
        # reads the same after normalisation: the review entry decides.
        block = {_entry_pattern(e) for e in self.block} - review
        return re.compile(
            f"{_NOT_INSIDE_A_WORD}(?:(?P<block>{alternation(block)})"
            f"|(?P<review>{alternation(review)})){_NOT_FOLLOWED_BY_A_WORD}"
        )


@lru_cache(maxsize=8)
def _compiled(languages: tuple[str, ...]) -> re.Pattern[str]:
    return WordList.load(languages).compile()


@dataclass(frozen=True)
class WordListCheck:
    """Blocks text containing a `block` entry, sends one with only `review` entries to a
    moderator. The regex is compiled once per process and list of languages."""

    languages: tuple[str, ...] = ("en",)
    max_length: int = 10_000
    name: str = "word_list"

    def pattern(self) -> re.Pattern[str]:
        return _compiled(self.languages)

    def check(self, text: str) -> Verdict:
        # Text fields are short; a longer text is judged on its beginning only (the
        # routes that take text bound it long before this).
        normalized = normalize(text[: self.max_length])
        decision = Decision.ALLOW
        for match in self.pattern().finditer(normalized):
            if match.lastgroup == "block":
                return Verdict(Decision.BLOCK, ["blocked_word"])
            decision = Decision.REVIEW
        if decision is Decision.REVIEW:
            return Verdict(Decision.REVIEW, ["review_word"])
        return Verdict.allow()
