"""The one place that decides a generated DP's fate from its photo and its texts.

Every check answers allow / review / block; the strictest answer wins. `checks_for` names
the checks the settings turn on:
- the word lists over every text field (a blocked word refuses with `text_blocked`, a
  doubtful one keeps the DP private for review);
- the pHash block-list on the photo, inline (a match refuses with `image_blocked`); the
  photo's hash is kept on the DP so a moderator can block it later (the photo is not kept);
- the image classifier (NudeNet), which never runs in the request: it is *deferred* to the
  `dp.classify` job, or *skipped* when its extra is not installed.

A DP may enter the gallery only once every check allowed it (`cleared_at`): not while the
classifier's verdict is pending, and not when it could not run (a person decides then).
`settle_classifier` applies the job's verdict. Generation, the gallery and the share page
read only the outcome (`status`, `cleared_at`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from PIL import Image

from admitone.dp import errors
from admitone.dp.models import ClassifierState, DpStatus, GeneratedDp, Verdict
from admitone.integrations import moderation as checks
from admitone.integrations.moderation import HashArray
from admitone.integrations.moderation.classifier import extra_installed
from admitone.integrations.moderation.phash import HashBlocklistCheck, phash
from admitone.moderation import service as moderation
from admitone.settings import ModerationSettings

CLASSIFIER = "classifier"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    # Which input a block is about: `image` (422 image_blocked) or `text` (422 text_blocked).
    subject: str | None = None
    # The photo's pHash (when the block-list ran).
    photo_hash: int | None = None
    # Checks that answer later, in a job (`classifier`).
    deferred: list[str] = field(default_factory=list)
    # Checks that could not run (`classifier` without its extra).
    skipped: list[str] = field(default_factory=list)

    @property
    def cleared(self) -> bool:
        """Every check ran and allowed it: it may enter the gallery at once."""
        return self.verdict == Verdict.ALLOW and not self.deferred and not self.skipped


Check = Callable[[Image.Image, Mapping[str, str]], Decision]
CHECKS: list[Check] = []


def _ours(decision: checks.Decision) -> Verdict:
    return Verdict(decision.value)


def checks_for(
    settings: ModerationSettings,
    blocked: HashArray | None = None,
    *,
    classifier_available: bool | None = None,
) -> list[Check]:
    """The checks these settings turn on; `blocked` is the block-list (None: not consulted);
    `classifier_available` defaults to whether the classifier's extra is installed."""
    available = extra_installed() if classifier_available is None else classifier_available
    found: list[Check] = []
    if settings.text_check:

        def words(photo: Image.Image, texts: Mapping[str, str]) -> Decision:
            verdicts = [moderation.check_text(settings, text) for text in texts.values() if text]
            answer = checks.combine(verdicts)
            return Decision(_ours(answer.decision), answer.reasons, "text")

        found.append(words)
    if "hash_blocklist" in settings.image_checks and blocked is not None:
        listed = HashBlocklistCheck(blocked, settings.hash_max_distance)

        def blocklist(photo: Image.Image, texts: Mapping[str, str]) -> Decision:
            h = photo_hash(photo)
            answer = listed.check_hash(h)
            return Decision(_ours(answer.decision), answer.reasons, "image", photo_hash=h)

        found.append(blocklist)
    if CLASSIFIER in settings.image_checks:
        require = settings.require_classifier

        def classifier(photo: Image.Image, texts: Mapping[str, str]) -> Decision:
            if available:
                return Decision(Verdict.ALLOW, deferred=[CLASSIFIER])
            verdict = Verdict.REVIEW if require else Verdict.ALLOW
            return Decision(verdict, ["classifier_unavailable"], "image", skipped=[CLASSIFIER])

        found.append(classifier)
    return found


def photo_hash(photo: Image.Image) -> int:
    """The pHash of the decoded photo, read as the checks read an upload (upright RGB, at
    most `CHECK_SIDE` on its long side), so it matches the block-list's hashes."""
    small = photo.convert("RGB") if photo.mode != "RGB" else photo.copy()
    small.thumbnail((checks.CHECK_SIDE, checks.CHECK_SIDE), Image.Resampling.BILINEAR)
    return phash(small)


_RANK = {Verdict.ALLOW: 0, Verdict.REVIEW: 1, Verdict.BLOCK: 2}


def decide(
    photo: Image.Image, texts: Mapping[str, str], checks: Sequence[Check] | None = None
) -> Decision:
    """The strictest answer of the checks (allow when there are none), with every reason.
    Runs outside any transaction: checks may cost CPU."""
    verdict, reasons, subject = Verdict.ALLOW, list[str](), None
    h: int | None = None
    deferred: list[str] = []
    skipped: list[str] = []
    for check in CHECKS if checks is None else checks:
        answer = check(photo, texts)
        reasons.extend(r for r in answer.reasons if r not in reasons)
        deferred.extend(answer.deferred)
        skipped.extend(answer.skipped)
        h = answer.photo_hash if answer.photo_hash is not None else h
        if _RANK[answer.verdict] > _RANK[verdict]:
            verdict, subject = answer.verdict, answer.subject
    return Decision(verdict, reasons, subject, h, deferred, skipped)


def refuse_blocked(decision: Decision) -> None:
    """Raises the refusal of a blocked DP (`image_blocked` or `text_blocked`)."""
    if decision.verdict != Verdict.BLOCK:
        return
    if decision.subject == "text":
        raise errors.TextBlocked(reasons=decision.reasons)
    raise errors.ImageBlocked(reasons=decision.reasons)


def status_for(verdict: Verdict) -> DpStatus:
    """Allowed: visible (public by link; in the gallery once cleared and opted in). Review:
    its owner only until a moderator decides."""
    return DpStatus.VISIBLE if verdict == Verdict.ALLOW else DpStatus.PENDING_REVIEW


def apply(dp: GeneratedDp, decision: Decision, now: datetime) -> None:
    """Sets a new DP's moderation fields from the decision."""
    dp.status = status_for(decision.verdict)
    dp.moderation_verdict = decision.verdict
    dp.moderation_reasons = decision.reasons
    dp.photo_hash = decision.photo_hash
    dp.classifier_state = (
        ClassifierState.PENDING
        if CLASSIFIER in decision.deferred
        else ClassifierState.UNAVAILABLE
        if CLASSIFIER in decision.skipped
        else ClassifierState.OFF
    )
    dp.cleared_at = now if decision.cleared else None
    # A person looks at what a check doubted, and at an opted-in DP no classifier saw (it
    # may enter the gallery only by their approval).
    wants_gallery = dp.share_to_hub and bool(decision.skipped)
    dp.review_requested_at = now if decision.verdict == Verdict.REVIEW or wants_gallery else None


def settle_classifier(dp: GeneratedDp, answer: checks.Verdict, now: datetime) -> None:
    """Applies the classifier job's verdict to a DP that awaited it: allow clears it for the
    gallery (when everything else allowed it too), review sends it to a moderator (private
    meanwhile), block takes it down (`removed`, reason `nudity`). A DP a person or its owner
    already acted on keeps its status."""
    if dp.classifier_state != ClassifierState.PENDING:
        return
    reasons = [r for r in answer.reasons if r not in dp.moderation_reasons]
    dp.moderation_reasons = [*dp.moderation_reasons, *reasons]
    if answer.skipped:  # the worker has no classifier: a person decides
        dp.classifier_state = ClassifierState.UNAVAILABLE
        if dp.share_to_hub and dp.review_requested_at is None:
            dp.review_requested_at = now
        return
    dp.classifier_state = ClassifierState.DONE
    verdict = _ours(answer.decision)
    if _RANK[verdict] > _RANK[dp.moderation_verdict]:
        dp.moderation_verdict = verdict
    # Hidden, removed or deleted meanwhile; or cleared while pending, which only a
    # moderator's approval does: a person's decision stands.
    if dp.status not in (DpStatus.VISIBLE, DpStatus.PENDING_REVIEW) or dp.cleared_at:
        return
    if verdict == Verdict.BLOCK:
        dp.status = DpStatus.REMOVED
        dp.cleared_at = None
        dp.review_requested_at = None
    elif verdict == Verdict.REVIEW:
        dp.status = DpStatus.PENDING_REVIEW
        dp.cleared_at = None
        dp.review_requested_at = dp.review_requested_at or now
    elif dp.moderation_verdict == Verdict.ALLOW and dp.status == DpStatus.VISIBLE:
        dp.cleared_at = dp.cleared_at or now
