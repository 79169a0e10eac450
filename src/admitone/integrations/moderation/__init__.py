"""Moderation checks behind one interface (`ImageCheck` / `TextCheck` -> `Verdict`), chosen
and configured by `ModerationSettings`: a pHash block-list, the NudeNet classifier (an
optional extra) and word lists for text. docs/moderation.md describes them."""

from __future__ import annotations

import logging

from admitone.core.images import decode_rgb
from admitone.integrations.moderation.base import (
    CheckImage,
    Decision,
    ImageCheck,
    TextCheck,
    Verdict,
    combine,
)
from admitone.integrations.moderation.classifier import NudityCheck, classifier_status
from admitone.integrations.moderation.phash import HashArray, HashBlocklistCheck, phash
from admitone.integrations.moderation.text import WordListCheck
from admitone.settings import ModerationSettings

__all__ = [
    "CHECK_SIDE",
    "CheckImage",
    "Decision",
    "HashArray",
    "ImageCheck",
    "TextCheck",
    "Verdict",
    "classifier_check",
    "combine",
    "decode_for_checks",
    "image_checks",
    "image_hash",
    "log_startup_status",
    "run_image_checks",
    "text_check",
]

log = logging.getLogger(__name__)

# Checks look at the image at most this large: pHash reads 32x32 and NudeNet letterboxes
# to 320x320, so more pixels would only cost decoding time (a 12 MP JPEG is then decoded
# at 1/8 scale by `draft()`).
CHECK_SIDE = 320


def decode_for_checks(data: bytes, *, max_pixels: int) -> CheckImage:
    """The upload decoded by us (type sniffed, pixel limit first, JPEG `draft()` decoding,
    upright, flattened RGB, downscaled): 415 `unsupported_image_type`, 422
    `image_too_large` / `invalid_image` as for every upload."""
    return CheckImage(decode_rgb(data, max_pixels=max_pixels, max_side=CHECK_SIDE))


def image_hash(image: CheckImage) -> int:
    """The signed 64-bit pHash the block-list stores."""
    return phash(image.image)


def image_checks(settings: ModerationSettings, blocked: HashArray) -> list[ImageCheck]:
    """The image checks the settings enable, in order (cheapest first)."""
    checks: list[ImageCheck] = []
    if "hash_blocklist" in settings.image_checks:
        checks.append(HashBlocklistCheck(blocked, settings.hash_max_distance))
    if "classifier" in settings.image_checks:
        checks.append(classifier_check(settings))
    return checks


def classifier_check(settings: ModerationSettings) -> ImageCheck:
    """The image classifier with the settings' thresholds (it answers `skipped` when its
    extra is not installed)."""
    return NudityCheck(
        settings.classifier_review_score,
        settings.classifier_block_score,
        input_side=settings.classifier_input_side,
    )


def run_image_checks(
    checks: list[ImageCheck], image: CheckImage, *, require_classifier: bool = False
) -> Verdict:
    """Every check's verdict combined; stops at the first block (the rest cannot soften
    it). With `require_classifier`, a skipped classifier sends the image to review."""
    verdicts = []
    for check in checks:
        verdict = check.check(image)
        verdicts.append(verdict)
        if verdict.decision is Decision.BLOCK:
            break
    result = combine(verdicts)
    if require_classifier and "classifier" in result.skipped and result.decision is Decision.ALLOW:
        return Verdict(Decision.REVIEW, result.reasons, result.skipped)
    return result


def text_check(settings: ModerationSettings) -> TextCheck | None:
    if not settings.text_check:
        return None
    return WordListCheck(tuple(settings.text_languages))


def log_startup_status(settings: ModerationSettings) -> str | None:
    """Logs a warning when an enabled check cannot run (the classifier's extra is missing);
    returns the message (None when all is well). Called when the app or a worker starts."""
    if "classifier" not in settings.image_checks:
        return None
    problem = classifier_status()
    if problem is not None:
        log.warning("moderation: %s", problem)
    return problem
