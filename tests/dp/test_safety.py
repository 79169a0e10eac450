"""`safety`: the one decision, with the classifier unavailable (its extra not installed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from admitone.core.ids import GeneratedDpId
from admitone.dp import errors
from admitone.dp.models import ClassifierState, DpStatus, GeneratedDp, Verdict
from admitone.dp.service import safety
from admitone.integrations.moderation import Decision
from admitone.integrations.moderation import Verdict as CheckVerdict
from admitone.integrations.moderation.phash import hash_array
from admitone.settings import ModerationSettings
from tests.moderation.photos import photo

NOW = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)
EARLIER, LATER = NOW - timedelta(minutes=5), NOW + timedelta(minutes=5)


def _dp(share_to_hub: bool) -> GeneratedDp:
    return GeneratedDp(id=GeneratedDpId.new(), share_to_hub=share_to_hub, moderation_reasons=[])


def test_without_the_classifier_a_dp_is_public_by_link_but_not_cleared_for_the_gallery() -> None:
    checks = safety.checks_for(ModerationSettings(), hash_array([]), classifier_available=False)
    decision = safety.decide(photo(1), {"name": "Ada"}, checks)
    assert decision.verdict == Verdict.ALLOW
    assert decision.reasons == ["classifier_unavailable"]
    assert decision.skipped == ["classifier"]
    assert decision.cleared is False
    assert decision.photo_hash is not None
    shared, private = _dp(True), _dp(False)
    safety.apply(shared, decision, NOW)
    safety.apply(private, decision, NOW)
    assert shared.status == DpStatus.VISIBLE
    assert shared.classifier_state == ClassifierState.UNAVAILABLE
    assert shared.cleared_at is None
    assert shared.review_requested_at == NOW  # a person lets it into the gallery
    assert private.review_requested_at is None  # nothing to decide: it never enters it


def test_require_classifier_sends_an_unclassified_dp_to_review() -> None:
    settings = ModerationSettings(require_classifier=True)
    checks = safety.checks_for(settings, hash_array([]), classifier_available=False)
    decision = safety.decide(photo(2), {}, checks)
    dp = _dp(False)
    safety.apply(dp, decision, NOW)
    assert (dp.status, dp.review_requested_at) == (DpStatus.PENDING_REVIEW, NOW)


def test_with_the_classifier_its_verdict_is_deferred_to_the_job() -> None:
    checks = safety.checks_for(ModerationSettings(), hash_array([]), classifier_available=True)
    decision = safety.decide(photo(3), {}, checks)
    dp = _dp(True)
    safety.apply(dp, decision, NOW)
    assert (dp.classifier_state, dp.cleared_at) == (ClassifierState.PENDING, None)
    safety.settle_classifier(dp, CheckVerdict.allow(), NOW)
    assert (dp.classifier_state, dp.cleared_at) == (ClassifierState.DONE, NOW)
    # A second answer (the job ran twice) changes nothing.
    safety.settle_classifier(dp, CheckVerdict(Decision.BLOCK, ["nudity"]), NOW)
    assert dp.status == DpStatus.VISIBLE


def test_a_worker_without_the_classifier_leaves_the_decision_to_a_person() -> None:
    checks = safety.checks_for(ModerationSettings(), hash_array([]), classifier_available=True)
    dp = _dp(True)
    safety.apply(dp, safety.decide(photo(4), {}, checks), NOW)
    unavailable = CheckVerdict(Decision.ALLOW, ["classifier_unavailable"], ["classifier"])
    safety.settle_classifier(dp, unavailable, NOW)
    assert dp.classifier_state == ClassifierState.UNAVAILABLE
    assert dp.cleared_at is None
    assert dp.review_requested_at == NOW


def test_a_moderators_approval_stands_against_a_later_classifier_verdict() -> None:
    checks = safety.checks_for(ModerationSettings(), hash_array([]), classifier_available=True)
    dp = _dp(True)
    safety.apply(dp, safety.decide(photo(5), {}, checks), NOW)
    dp.cleared_at = NOW  # what an approval does while the job is still queued
    safety.settle_classifier(dp, CheckVerdict(Decision.BLOCK, ["nudity"]), NOW)
    assert (dp.status, dp.classifier_state) == (DpStatus.VISIBLE, ClassifierState.DONE)
    assert dp.moderation_reasons == ["nudity"]  # kept for the record


def test_a_worker_without_the_classifier_asks_a_person_only_about_opted_in_dps_and_once() -> None:
    checks = safety.checks_for(ModerationSettings(), hash_array([]), classifier_available=True)
    decision = safety.decide(photo(6), {}, checks)
    private, asked = _dp(False), _dp(True)
    safety.apply(private, decision, NOW)
    safety.apply(asked, decision, NOW)
    asked.review_requested_at = EARLIER  # a report asked first: it keeps its place
    unavailable = CheckVerdict(Decision.ALLOW, ["classifier_unavailable"], ["classifier"])
    safety.settle_classifier(private, unavailable, LATER)
    safety.settle_classifier(asked, unavailable, LATER)
    assert private.classifier_state == ClassifierState.UNAVAILABLE
    assert private.review_requested_at is None  # it never enters the gallery: nothing to ask
    assert (private.status, private.cleared_at) == (DpStatus.VISIBLE, None)
    assert asked.review_requested_at == EARLIER


def test_a_classifier_allow_does_not_clear_a_dp_that_reports_sent_to_review() -> None:
    checks = safety.checks_for(ModerationSettings(), hash_array([]), classifier_available=True)
    dp = _dp(True)
    safety.apply(dp, safety.decide(photo(7), {}, checks), NOW)
    dp.status, dp.review_requested_at = DpStatus.PENDING_REVIEW, NOW  # what reports do
    safety.settle_classifier(dp, CheckVerdict.allow(), LATER)
    assert dp.classifier_state == ClassifierState.DONE
    assert (dp.status, dp.cleared_at, dp.review_requested_at) == (
        DpStatus.PENDING_REVIEW,
        None,
        NOW,
    )


def test_the_blocklist_runs_when_the_settings_turn_it_on_and_a_list_is_given() -> None:
    h = safety.photo_hash(photo(8))
    listed = hash_array([h])
    on = ModerationSettings(image_checks=["hash_blocklist"])
    blocked = safety.decide(photo(8), {"name": "Ada"}, safety.checks_for(on, listed))
    assert (blocked.verdict, blocked.reasons) == (Verdict.BLOCK, ["image_blocklisted"])
    assert (blocked.subject, blocked.photo_hash) == ("image", h)  # the photo is to blame
    with pytest.raises(errors.ImageBlocked):
        safety.refuse_blocked(blocked)
    off = ModerationSettings(image_checks=[])
    for checks in (safety.checks_for(off, listed), safety.checks_for(on, None)):
        allowed = safety.decide(photo(8), {"name": "Ada"}, checks)
        assert (allowed.verdict, allowed.reasons, allowed.photo_hash) == (Verdict.ALLOW, [], None)


def test_the_blocklist_matches_within_the_settings_distance() -> None:
    near = hash_array([safety.photo_hash(photo(9)) ^ 0b111])  # three bits away
    for distance, verdict in ((2, Verdict.ALLOW), (3, Verdict.BLOCK)):
        settings = ModerationSettings(image_checks=["hash_blocklist"], hash_max_distance=distance)
        assert safety.decide(photo(9), {}, safety.checks_for(settings, near)).verdict == verdict


def test_without_checks_a_dp_is_allowed_and_cleared_at_once() -> None:
    decision = safety.decide(photo(10), {"name": "Ada"})  # moderation not configured
    assert (decision.verdict, decision.reasons, decision.photo_hash) == (Verdict.ALLOW, [], None)
    dp = _dp(True)
    safety.apply(dp, decision, NOW)
    assert (dp.status, dp.classifier_state, dp.cleared_at) == (
        DpStatus.VISIBLE,
        ClassifierState.OFF,
        NOW,
    )


def test_when_the_name_and_the_photo_are_both_blocked_the_first_block_names_the_cause() -> None:
    listed = hash_array([safety.photo_hash(photo(11))])
    checks = safety.checks_for(ModerationSettings(image_checks=["hash_blocklist"]), listed)
    decision = safety.decide(photo(11), {"name": "B1tch"}, checks)
    assert decision.verdict == Verdict.BLOCK
    assert decision.reasons == ["blocked_word", "image_blocklisted"]
    assert decision.subject == "text"  # the word lists run first; a later tie keeps it
    with pytest.raises(errors.TextBlocked):
        safety.refuse_blocked(decision)
