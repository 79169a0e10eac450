"""DP safety end to end: the block-list at generation, the classifier job and the gallery,
reports, the review queue, moderators' decisions and who may take them."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from admitone.access.models import AuditEntry
from admitone.core.db import Database
from admitone.dp.models import DpReport, GeneratedDp
from admitone.dp.service.reports import reporter_key
from admitone.notifications.models import Notification
from admitone.settings import Settings
from tests.dp.conftest import World, create_campaign, generate
from tests.dp.render.images import layout_dict
from tests.factories import (
    add_team_member,
    auth_headers,
    grant_platform_role,
    make_event,
    make_organization,
    make_user,
)
from tests.moderation.photos import encode, jpeg, photo

RunJobs = Any


def _moderator(db: Database, settings: Settings) -> dict[str, str]:
    with db.session() as s:
        user = make_user(s)
        grant_platform_role(s, user, "moderator")
        return auth_headers(s, settings, user)


def _attendee(db: Database, settings: Settings) -> tuple[str, dict[str, str]]:
    with db.session() as s:
        user = make_user(s)
        return user.id, auth_headers(s, settings, user)


def _gallery(client: TestClient, world: World) -> list[str]:
    r = client.get(f"/api/v1/public/dp-campaigns/{world.campaign['slug']}/gallery")
    return [i["id"] for i in r.json()["items"]]


def _made(client: TestClient, world: World, run_jobs: RunJobs, **kw: Any) -> dict[str, Any]:
    """A DP on the world's campaign, through the classifier job, in the gallery."""
    r = generate(client, world.campaign["id"], world.template["id"], share_to_hub=True, **kw)
    assert r.status_code == 201, r.text
    run_jobs()
    return dict(r.json())


def _queue(client: TestClient, headers: dict[str, str], **query: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/moderation/queue", headers=headers, params=query)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _notified(db: Database, user_id: str, kind: str) -> bool:
    with db.session() as s:
        found = s.scalar(
            select(Notification.id).where(
                Notification.user_id == user_id, Notification.kind == kind
            )
        )
        return found is not None


# --- the block-list at generation --------------------------------------------------------


def test_blocklist_refuses_a_reencoded_and_downscaled_copy_and_lets_another_photo_pass(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    moderator = _moderator(db, settings)
    blocked = client.post(
        "/api/v1/moderation/blocklist",
        files={"file": ("bad.jpg", jpeg(11), "image/jpeg")},
        headers=moderator,
    )
    assert blocked.status_code == 201, blocked.text
    c, t = world.campaign["id"], world.template["id"]
    smaller = photo(11).resize((480, 360), Image.Resampling.LANCZOS)
    for copy in (encode(smaller, "JPEG", quality=40), encode(photo(11), "WEBP", quality=60)):
        r = generate(client, c, t, data=copy)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "image_blocked"
        assert r.json()["reasons"] == ["image_blocklisted"]
    other = generate(client, c, t, data=jpeg(12))
    assert other.status_code == 201, other.text
    assert other.json()["status"] == "visible"


def test_a_moderator_blocks_a_dps_photo_and_it_cannot_be_used_again(
    client: TestClient, world: World, db: Database, settings: Settings, run_jobs: RunJobs
) -> None:
    moderator = _moderator(db, settings)
    dp = _made(client, world, run_jobs, data=jpeg(21))
    # The list is platform-wide: the campaign's own organizer may not add to it.
    r = client.post(f"/api/v1/moderation/dps/{dp['id']}/block-photo", headers=world.headers)
    assert r.status_code == 404
    r = client.post(
        f"/api/v1/moderation/dps/{dp['id']}/block-photo",
        json={"reason": "stolen photo"},
        headers=moderator,
    )
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "dp"
    again = client.post(f"/api/v1/moderation/dps/{dp['id']}/block-photo", headers=moderator)
    assert again.status_code == 200
    assert again.json()["created"] is False
    smaller = encode(photo(21).resize((800, 600)), "JPEG", quality=50)
    refused = generate(client, world.campaign["id"], world.template["id"], data=smaller)
    assert refused.status_code == 422
    assert refused.json()["code"] == "image_blocked"
    with db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "image_hash.blocked")).one()
        assert entry.after is not None
        assert entry.after["source_id"] == dp["id"]


# --- the classifier job -------------------------------------------------------------------


def test_the_classifier_job_keeps_a_dp_out_of_the_gallery_until_it_allows_it(
    client: TestClient, world: World, run_jobs: RunJobs
) -> None:
    """The real NudeNet, on a synthetic photo (nothing sensitive in it)."""
    r = generate(client, world.campaign["id"], world.template["id"], share_to_hub=True)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["moderation"]["classifier"] == "pending"
    assert made["moderation"]["cleared"] is False
    assert _gallery(client, world) == []
    # Its link works, but no cache may keep the picture before every check is in.
    image = client.get(f"/api/v1/public/dps/{made['id']}/image")
    assert image.status_code == 200
    assert image.headers["cache-control"] == "no-store"

    assert run_jobs() >= 1
    assert _gallery(client, world) == [made["id"]]
    token = {"X-DP-Token": made["dp_token"]}
    after = client.get(f"/api/v1/dps/{made['id']}", headers=token).json()
    assert after["moderation"]["classifier"] == "done"
    assert after["moderation"]["cleared"] is True
    assert after["status"] == "visible"
    image = client.get(f"/api/v1/public/dps/{made['id']}/image")
    assert image.headers["cache-control"] == "public, no-cache"
    assert run_jobs() == 0  # nothing left; running the job again would change nothing


def test_a_classifier_review_sends_the_dp_to_the_queue_and_out_of_public_view(
    client: TestClient,
    world: World,
    db: Database,
    settings: Settings,
    run_jobs: RunJobs,
) -> None:
    # Every score reaches a threshold of 0: the real classifier answers "review".
    settings.moderation.classifier_review_score = 0.0
    made = _made(client, world, run_jobs)
    assert _gallery(client, world) == []
    assert client.get(f"/api/v1/public/dps/{made['id']}/image").status_code == 404
    owner = client.get(f"/api/v1/dps/{made['id']}", headers={"X-DP-Token": made["dp_token"]})
    assert owner.json()["status"] == "pending_review"
    assert owner.json()["moderation"]["verdict"] == "review"
    queue = _queue(client, _moderator(db, settings))
    assert [i["id"] for i in queue] == [made["id"]]
    assert queue[0]["reasons"] == ["possible_nudity"]


def test_a_classifier_block_takes_the_dp_down(
    client: TestClient, world: World, settings: Settings, run_jobs: RunJobs
) -> None:
    settings.moderation.classifier_block_score = 0.0
    made = _made(client, world, run_jobs)
    owner = client.get(f"/api/v1/dps/{made['id']}", headers={"X-DP-Token": made["dp_token"]})
    assert owner.json()["status"] == "removed"
    assert owner.json()["moderation"]["reasons"] == ["nudity"]
    assert client.get(f"/api/v1/public/dps/{made['id']}/image").status_code == 404
    assert client.get(f"/dp/s/{made['referral_code']}").status_code == 410


def test_without_a_classifier_an_opted_in_dp_waits_for_a_person(
    client: TestClient, world: World, db: Database, settings: Settings, run_jobs: RunJobs
) -> None:
    """The classifier turned off in the settings: the block-list and words alone clear it."""
    settings.moderation.image_checks = ["hash_blocklist"]
    made = _made(client, world, run_jobs)
    assert made["moderation"]["classifier"] == "off"
    assert _gallery(client, world) == [made["id"]]


# --- reports, the queue and decisions --------------------------------------------------------


def test_report_queue_approve_round_trip(
    client: TestClient, world: World, db: Database, settings: Settings, run_jobs: RunJobs
) -> None:
    owner_id, owner = _attendee(db, settings)
    made = _made(client, world, run_jobs, headers=owner)
    moderator = _moderator(db, settings)
    assert _queue(client, moderator) == []

    r = client.post(f"/api/v1/public/dps/{made['id']}/report", json={"reason": "Not my photo"})
    assert r.status_code == 201, r.text
    repeat = client.post(f"/api/v1/public/dps/{made['id']}/report", json={"reason": "again"})
    assert repeat.status_code == 200
    assert repeat.json()["created"] is False
    queue = _queue(client, moderator)
    assert [i["id"] for i in queue] == [made["id"]]
    assert queue[0]["report_count"] == 1
    assert queue[0]["report_reasons"] == ["Not my photo"]
    assert queue[0]["status"] == "visible"  # one report does not hide it
    picture = client.get(queue[0]["image_url"].removeprefix("http://testserver"), headers=moderator)
    assert picture.status_code == 200
    assert picture.headers["cache-control"] == "private, no-store"

    r = client.post(f"/api/v1/moderation/dps/{made['id']}/approve", headers=moderator)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": made["id"], "status": "visible", "cleared": True, "report_count": 0}
    assert _queue(client, moderator) == []
    assert _gallery(client, world) == [made["id"]]
    again = client.post(f"/api/v1/moderation/dps/{made['id']}/approve", headers=moderator)
    assert again.status_code == 200
    run_jobs()
    assert _notified(db, owner_id, "dp_approved")
    with db.session() as s:
        actions = s.scalars(
            select(AuditEntry.action).where(AuditEntry.target_id == made["id"])
        ).all()
    assert actions == ["generated_dp.approved"]  # the repeat changed nothing


def test_an_anonymous_reporter_is_kept_as_a_secret_keyed_hash_of_the_address(
    client: TestClient, world: World, db: Database, settings: Settings, run_jobs: RunJobs
) -> None:
    made = _made(client, world, run_jobs)
    r = client.post(f"/api/v1/public/dps/{made['id']}/report", json={"reason": "Not my photo"})
    assert r.status_code == 201, r.text
    with db.session() as s:
        stored = s.scalars(select(DpReport.reporter_key)).one()
    address = "testclient"  # the test client's address
    unsalted = hashlib.sha256(address.encode()).hexdigest()
    assert stored.startswith("ip:")
    assert address not in stored
    assert unsalted[:40] not in stored
    # Recomputing it needs the secret: another secret gives another key for the address.
    assert stored == reporter_key(None, address, settings.secret)
    assert stored != reporter_key(None, address, b"another secret")
    assert stored != reporter_key(None, "203.0.113.9", settings.secret)


def test_reports_hide_a_dp_and_a_takedown_removes_it_everywhere_at_once(
    client: TestClient, world: World, db: Database, settings: Settings, run_jobs: RunJobs
) -> None:
    settings.dp.reports_to_hide = 2
    owner_id, owner = _attendee(db, settings)
    made = _made(client, world, run_jobs, headers=owner)
    image_path = f"/api/v1/public/dps/{made['id']}/image"
    shown = client.get(image_path)
    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "public, no-cache"  # revalidated on every use
    etag = shown.headers["etag"]

    for _ in range(2):
        _, reporter = _attendee(db, settings)
        r = client.post(
            f"/api/v1/public/dps/{made['id']}/report", json={"reason": "spam"}, headers=reporter
        )
        assert r.status_code == 201, r.text
    # Hidden pending review: out of the gallery, its image gone, its share page says so.
    assert _gallery(client, world) == []
    assert client.get(image_path).status_code == 404
    late = client.post(f"/api/v1/public/dps/{made['id']}/report", json={"reason": "spam"})
    assert late.status_code == 404
    assert late.json()["code"] == "dp_not_found"

    moderator = _moderator(db, settings)
    [item] = _queue(client, moderator)
    assert (item["status"], item["report_count"]) == ("pending_review", 2)
    r = client.post(
        f"/api/v1/moderation/dps/{made['id']}/takedown",
        json={"reason": "Spam"},
        headers=moderator,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "removed"
    # At once, also for a cache revalidating the copy it holds.
    gone = client.get(image_path, headers={"If-None-Match": etag})
    assert gone.status_code == 404
    assert client.get(f"/dp/s/{made['referral_code']}").status_code == 410
    assert _gallery(client, world) == []
    assert _queue(client, moderator) == []
    mine = client.get(f"/api/v1/dps/{made['id']}", headers=owner).json()
    assert mine["status"] == "removed"
    run_jobs()
    assert _notified(db, owner_id, "dp_taken_down")


def test_a_takedown_of_a_visible_dp_answers_404_on_the_very_next_request(
    client: TestClient, world: World, db: Database, settings: Settings, run_jobs: RunJobs
) -> None:
    made = _made(client, world, run_jobs)
    image_path = f"/api/v1/public/dps/{made['id']}/image"
    assert client.get(image_path).status_code == 200
    # The campaign's own organizer (an organization owner) takes it down.
    r = client.post(f"/api/v1/moderation/dps/{made['id']}/takedown", headers=world.headers)
    assert r.status_code == 200, r.text
    assert client.get(image_path).status_code == 404
    assert client.get(f"{image_path}?download=1").status_code == 404


def test_a_rejected_dp_stays_with_its_owner_only(
    client: TestClient, world: World, db: Database, settings: Settings, run_jobs: RunJobs
) -> None:
    made = _made(client, world, run_jobs)
    r = client.post(f"/api/v1/moderation/dps/{made['id']}/reject", headers=world.headers)
    assert r.json()["status"] == "hidden"
    assert client.get(f"/api/v1/public/dps/{made['id']}/image").status_code == 404
    token = {"X-DP-Token": made["dp_token"]}
    assert client.get(f"/api/v1/dps/{made['id']}/image", headers=token).status_code == 200


def test_a_report_reason_with_a_blocked_word_is_refused(
    client: TestClient, world: World, run_jobs: RunJobs
) -> None:
    made = _made(client, world, run_jobs)
    r = client.post(f"/api/v1/public/dps/{made['id']}/report", json={"reason": "fuck you"})
    assert (r.status_code, r.json()["code"]) == (422, "report_reason_blocked")
    empty = client.post(f"/api/v1/public/dps/{made['id']}/report", json={"reason": " "})
    assert empty.status_code == 422
    unknown = client.post("/api/v1/public/dps/dpg_01J00000000000000000000000/report",
                          json={"reason": "spam"})  # fmt: skip
    assert (unknown.status_code, unknown.json()["code"]) == (404, "dp_not_found")


def test_reports_are_rate_limited_per_address_and_per_user(
    client: TestClient, world: World, db: Database, settings: Settings, run_jobs: RunJobs
) -> None:
    settings.dp.report_limits_per_ip = "2/minute"
    settings.dp.report_limits_per_user = "100/minute"
    dps = [_made(client, world, run_jobs)["id"] for _ in range(3)]
    for dp_id in dps[:2]:
        r = client.post(f"/api/v1/public/dps/{dp_id}/report", json={"reason": "spam"})
        assert r.status_code == 201, r.text
    limited = client.post(f"/api/v1/public/dps/{dps[2]}/report", json={"reason": "spam"})
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_reports_are_rate_limited_per_user_across_addresses(
    client: TestClient, world: World, db: Database, settings: Settings, run_jobs: RunJobs
) -> None:
    settings.dp.report_limits_per_user = "1/minute"
    _, reporter = _attendee(db, settings)
    dps = [_made(client, world, run_jobs)["id"] for _ in range(2)]
    first = client.post(
        f"/api/v1/public/dps/{dps[0]}/report", json={"reason": "spam"}, headers=reporter
    )
    assert first.status_code == 201
    second = client.post(
        f"/api/v1/public/dps/{dps[1]}/report", json={"reason": "spam"}, headers=reporter
    )
    assert second.status_code == 429
    assert "retry-after" in second.headers


# --- who may moderate -------------------------------------------------------------------------


def test_an_organizations_admin_moderates_its_own_campaigns_only(
    client: TestClient, world: World, db: Database, settings: Settings, run_jobs: RunJobs
) -> None:
    ours = _made(client, world, run_jobs)
    client.post(f"/api/v1/public/dps/{ours['id']}/report", json={"reason": "spam"})
    # Another organization with its own campaign and a reported DP.
    with db.session() as s:
        other_owner = make_user(s)
        other_org = make_organization(s, other_owner)
        other_event = make_event(s, other_org, status="published")
        other_h = auth_headers(s, settings, other_owner)
        admin, marketing = make_user(s), make_user(s)
        from admitone.orgs.models import Organization

        our_org = s.get(Organization, world.event.organization_id)
        assert our_org is not None
        add_team_member(s, our_org, admin, "admin")
        add_team_member(s, our_org, marketing, "marketing")
        admin_h = auth_headers(s, settings, admin)
        marketing_h = auth_headers(s, settings, marketing)
    campaign = create_campaign(client, other_h, other_event.id, title="Theirs")
    from tests.dp.conftest import add_template

    template = add_template(client, other_h, campaign["id"], layout_dict()).json()
    client.post(f"/api/v1/dp-campaigns/{campaign['id']}/publish", headers=other_h)
    theirs = generate(client, campaign["id"], template["id"], share_to_hub=True).json()
    run_jobs()
    client.post(f"/api/v1/public/dps/{theirs['id']}/report", json={"reason": "spam"})

    org_id = world.event.organization_id
    assert [i["id"] for i in _queue(client, admin_h, organization_id=org_id)] == [ours["id"]]
    # The platform-wide queue is for platform moderators.
    assert client.get("/api/v1/moderation/queue", headers=admin_h).status_code == 404
    theirs_q = client.get(
        "/api/v1/moderation/queue", headers=admin_h, params={"organization_id": other_org.id}
    )
    assert theirs_q.status_code == 404
    taken = client.post(f"/api/v1/moderation/dps/{theirs['id']}/takedown", headers=admin_h)
    assert (taken.status_code, taken.json()["code"]) == (404, "dp_not_found")
    denied = client.post(f"/api/v1/moderation/dps/{ours['id']}/approve", headers=marketing_h)
    assert (denied.status_code, denied.json()["code"]) == (403, "capability_required")
    assert client.post(f"/api/v1/moderation/dps/{ours['id']}/approve").status_code == 401
    ok = client.post(f"/api/v1/moderation/dps/{ours['id']}/approve", headers=admin_h)
    assert ok.status_code == 200, ok.text

    moderator = _moderator(db, settings)
    assert [i["id"] for i in _queue(client, moderator)] == [theirs["id"]]
    done = client.post(f"/api/v1/moderation/dps/{theirs['id']}/takedown", headers=moderator)
    assert done.status_code == 200
    with db.session() as s:
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "generated_dp.taken_down")
        ).one()
        assert entry.organization_id == other_org.id


def test_the_queue_pages_oldest_first(
    client: TestClient, world: World, db: Database, settings: Settings, run_jobs: RunJobs
) -> None:
    made = [_made(client, world, run_jobs)["id"] for _ in range(3)]
    for dp_id in reversed(made):
        client.post(f"/api/v1/public/dps/{dp_id}/report", json={"reason": "spam"})
    moderator = _moderator(db, settings)
    first = client.get("/api/v1/moderation/queue", headers=moderator, params={"limit": 2}).json()
    second = client.get(
        "/api/v1/moderation/queue",
        headers=moderator,
        params={"limit": 2, "cursor": first["next_cursor"]},
    ).json()
    assert second["next_cursor"] is None
    assert [i["id"] for i in first["items"] + second["items"]] == list(reversed(made))
    with db.session() as s:
        assert s.get(GeneratedDp, made[0]) is not None
