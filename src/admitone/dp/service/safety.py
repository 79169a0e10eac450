"""The one place that decides a generated DP's fate from its photo and its texts.

Every check answers allow / review / block; the strictest answer wins. `checks_for` names
the checks the settings turn on: today the word lists over every text field (the
`moderation` domain's `check_text`: a blocked word refuses the DP with `text_blocked`, a
doubtful one keeps it private for review). The image checks (block-list, classifier) are
built in `moderation` but not yet wired here; generation, the gallery and the share page
read only the outcome (`status_for(verdict)`), so adding them changes nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from PIL import Image

from admitone.dp import errors
from admitone.dp.models import DpStatus, Verdict
from admitone.moderation import service as moderation
from admitone.settings import ModerationSettings


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    # Which input a block is about: `image` (422 image_blocked) or `text` (422 text_blocked).
    subject: str | None = None


Check = Callable[[Image.Image, Mapping[str, str]], Decision]
CHECKS: list[Check] = []


def checks_for(settings: ModerationSettings) -> list[Check]:
    """The checks these settings turn on."""
    if not settings.text_check:
        return []

    def words(photo: Image.Image, texts: Mapping[str, str]) -> Decision:
        verdicts = [moderation.check_text(settings, text) for text in texts.values() if text]
        strictest = max((v.decision.rank for v in verdicts), default=0)
        verdict = [Verdict.ALLOW, Verdict.REVIEW, Verdict.BLOCK][strictest]
        reasons = [r for v in verdicts for r in v.reasons]
        return Decision(verdict, list(dict.fromkeys(reasons)), "text")

    return [words]


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
