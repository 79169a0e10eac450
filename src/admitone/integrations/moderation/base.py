"""The one interface every moderation check speaks: a `Verdict` of allow, review or block.

Image checks look at `CheckImage` (pixels we decoded and downscaled ourselves, never the
raw upload); text checks at a string. A check that could not run (the classifier's extra
is not installed) says so in `skipped` and in its reasons: it never answers a silent allow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from PIL import Image


class Decision(StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Decision.ALLOW: 0, Decision.REVIEW: 1, Decision.BLOCK: 2}


@dataclass(frozen=True)
class Verdict:
    """What a check (or several, `combine`d) decided. `reasons` are stable machine codes
    (`image_blocklisted`, `nudity`, `blocked_word`, `classifier_unavailable`, ...);
    `skipped` names the checks that did not run."""

    decision: Decision
    reasons: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def allow(cls) -> Verdict:
        return cls(Decision.ALLOW)

    @property
    def verdict(self) -> str:
        return self.decision.value

    @property
    def complete(self) -> bool:
        """True when every check ran (nothing was skipped)."""
        return not self.skipped


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """The strictest decision of all, with every reason (in order, without repeats)."""
    decision = Decision.ALLOW
    reasons: list[str] = []
    skipped: list[str] = []
    for v in verdicts:
        if v.decision.rank > decision.rank:
            decision = v.decision
        reasons.extend(r for r in v.reasons if r not in reasons)
        skipped.extend(s for s in v.skipped if s not in skipped)
    return Verdict(decision, reasons, skipped)


@dataclass(frozen=True)
class CheckImage:
    """An upright RGB image, at most `prepare.CHECK_SIDE` pixels on its long side, decoded
    by us (`prepare.decode_for_checks`)."""

    image: Image.Image

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height


@runtime_checkable
class ImageCheck(Protocol):
    @property
    def name(self) -> str: ...

    def check(self, image: CheckImage) -> Verdict: ...


@runtime_checkable
class TextCheck(Protocol):
    @property
    def name(self) -> str: ...

    def check(self, text: str) -> Verdict: ...
