# ruff: noqa: RUF001, RUF003  (look-alike letters are the point of these tests)
"""The word lists on a table of names and captions: profanity, leetspeak, look-alike letters,
the Scunthorpe problem and names in other scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from admitone.integrations.moderation.base import Decision
from admitone.integrations.moderation.text import WORDLISTS, WordList, WordListCheck, normalize

CHECK = WordListCheck(("en", "fr", "es"))

TABLE = [
    # plain profanity and slurs
    ("What the fuck is this", "block"),
    ("Fuck!", "block"),
    ("shit happens", "block"),
    ("hijo de puta", "block"),
    ("espèce de connard", "block"),
    # leetspeak, symbols, repeats, spacing and case
    ("sh1t happens at conferences", "block"),
    ("You are a b!tch", "block"),
    ("$hit", "block"),
    ("fuuuuuck", "block"),
    ("F.U.C.K", "block"),
    ("f u c k", "block"),
    ("SHIT", "block"),
    ("c0cksucker", "block"),
    # Unicode tricks: full-width, accents, zero-width space, Cyrillic and Greek look-alikes
    ("ｆｕｃｋ", "block"),
    ("fück", "block"),
    ("fu\u200bck", "block"),
    ("сunt", "block"),  # Cyrillic с
    ("shіt", "block"),  # Cyrillic і
    ("fυck", "block"),  # Greek upsilon
    # milder words go to a moderator
    ("damn this queue", "review"),
    ("Dick Van Dyke", "review"),
    ("a$$", "review"),
    # the Scunthorpe problem: a listed word inside another word is no match
    ("Scunthorpe United supporters meetup", "allow"),
    ("classic assassin's creed cosplay", "allow"),
    ("therapist and analyst meetup", "allow"),
    ("Penistone and Cockburn", "allow"),
    ("Shittake mushrooms? no: shiitake", "allow"),
    ("cocktail hour", "allow"),
    ("Hello! Great to see you!!!", "allow"),
    # personal names, any script
    ("Adaeze Okonkwo-Williamson", "allow"),
    ("Guido van Rossum", "allow"),
    ("Fanny Wang", "allow"),
    ("Willy Dong", "allow"),
    ("Мария Иванова", "allow"),
    ("Σωκράτης Παπαδόπουλος", "allow"),
    ("张伟", "allow"),
    ("محمد عبد الله", "allow"),
    ("देवनागरी नाम", "allow"),
    ("Nguyễn Thị Minh Khai", "allow"),
    ("Søren Ålborg", "allow"),
    ("José Ñúñez", "allow"),
    ("Hello from Lagos 👋🏾 see you there", "allow"),
    ("", "allow"),
    ("a" * 2000, "allow"),
]


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_verdicts_on_names_and_captions(text: str, expected: str) -> None:
    verdict = CHECK.check(text)
    assert verdict.decision.value == expected, (text, verdict)
    assert verdict.reasons == {
        "allow": [], "review": ["review_word"], "block": ["blocked_word"]
    }[expected]  # fmt: skip


def test_normalisation_folds_case_width_accents_and_invisible_characters() -> None:
    assert normalize("ＡＢＣ Ça\u00adva\u200b") == "abc cava"
    assert normalize("ΑΒΕ") == "abe"  # Greek capitals read as Latin after case folding


def test_every_list_parses_and_names_its_source_and_licence() -> None:
    files = sorted(WORDLISTS.glob("*.txt"))
    assert {f.stem for f in files} >= {"en", "fr", "es"}
    for f in files:
        head = f.read_text("utf-8").splitlines()[:3]
        assert any("licence" in line.lower() for line in head), f
        words = WordList.load([f.stem])
        assert words.block, f


def test_a_malformed_list_is_refused_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "xx.txt").write_text("# test\nblock ok\nmaybe this\n")
    with pytest.raises(ValueError, match=r"xx.txt:3"):
        WordList.load(["xx"], tmp_path)
    with pytest.raises(ValueError, match="language"):
        WordList.load(["../etc"], tmp_path)


def test_review_entry_wins_over_a_block_spelling_of_the_same_word(tmp_path: Path) -> None:
    (tmp_path / "xx.txt").write_text("block d1ck\nreview dick\nblock shit\n")
    pattern = WordList.load(["xx"], tmp_path).compile()
    assert [m.lastgroup for m in pattern.finditer(normalize("DICK and sh1t"))] == [
        "review",
        "block",
    ]


def test_decision_ordering() -> None:
    assert Decision.ALLOW.rank < Decision.REVIEW.rank < Decision.BLOCK.rank
