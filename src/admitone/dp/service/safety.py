"""The one place that decides a generated DP's fate from its photo and its texts.

Every check answers allow / review / block; the strictest answer wins. Today there are no
checks, so everything is allowed; the safety work (DESIGN §11: a perceptual-hash block-list,
an image classifier, a word list) adds them to `CHECKS` without touching generation, the
gallery or the share page, which read only the outcome: `status_for(verdict)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from PIL import Image

from admitone.dp import errors
from admitone.dp.models import DpStatus, Verdict


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    # Which input a block is about: `image` (422 image_blocked) or `text` (422 text_blocked).
    subject: str | None = None


Check = Callable[[Image.Image, Mapping[str, str]], Decision]
CHECKS: list[Check] = []
_RANK = {Verdict.ALLOW: 0, Verdict.REVIEW: 1, Verdict.BLOCK: 2}


def decide(
    photo: Image.Image, texts: Mapping[str, str], checks: Sequence[Check] | None = None
) -> Decision:
    """The strictest answer of the checks (allow when there are none), with every reason.
    Runs outside any transaction: checks may cost CPU."""
    verdict, reasons, subject = Verdict.ALLOW, [], None
    for check in CHECKS if checks is None else checks:
        answer = check(photo, texts)
        reasons.extend(answer.reasons)
        if _RANK[answer.verdict] > _RANK[verdict]:
            verdict, subject = answer.verdict, answer.subject
    return Decision(verdict, reasons, subject)


def refuse_blocked(decision: Decision) -> None:
    """Raises the refusal of a blocked DP (`image_blocked` or `text_blocked`)."""
    if decision.verdict != Verdict.BLOCK:
        return
    if decision.subject == "text":
        raise errors.TextBlocked(reasons=decision.reasons)
    raise errors.ImageBlocked(reasons=decision.reasons)


def status_for(verdict: Verdict) -> DpStatus:
    """Allowed: visible (public by link; in the gallery when opted in). Review: its owner
    only until a moderator decides."""
    return DpStatus.VISIBLE if verdict == Verdict.ALLOW else DpStatus.PENDING_REVIEW
