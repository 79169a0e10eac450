"""Organizer routes for events: creation rules, access, editing and the lifecycle."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select

from admitone.access.models import AuditEntry
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.ids import EventId, TicketTierId
from admitone.core.jobs import Job
from admitone.events.models import Event
from tests.events.conftest import (
    Organizer,
    create_event,
    create_tier,
    event_body,
    published_event,
)

PROBLEM = "application/problem+json"


def _events_url(organizer: Organizer) -> str:
    return f"/api/v1/organizations/{organizer.org.id}/events"


# --- creation -----------------------------------------------------------------------------


def test_minimal_event_is_a_draft_with_a_slug_from_its_title(
    client: TestClient, organizer: Organizer
) -> None:
    body = event_body(title="  Lagos Jazz Night: Live!  ")
    resp = client.post(_events_url(organizer), json=body, headers=organizer.headers)
    assert resp.status_code == 201, resp.text
    event = resp.json()
    assert event["id"].startswith("evt_")
    assert event["status"] == "draft"
    assert event["title"] == "Lagos Jazz Night: Live!"
    assert event["slug"] == "lagos-jazz-night-live"
    assert event["visibility"] == "public"
    assert event["reservation_minutes"] == 15
    assert event["organization_id"] == organizer.org.id
    assert event["currency"] is None


def test_times_are_stored_and_returned_in_utc(client: TestClient, organizer: Organizer) -> None:
    event = create_event(
        client,
        organizer,
        starts_at="2030-03-01T19:00:00+01:00",
        ends_at="2030-03-01T23:00:00+01:00",
    )
    assert datetime.fromisoformat(event["starts_at"]) == datetime(2030, 3, 1, 18, tzinfo=UTC)
    assert event["starts_at"].endswith(("Z", "+00:00"))
    assert event["timezone"] == "Africa/Lagos"


def test_same_title_gets_a_distinct_slug(client: TestClient, organizer: Organizer) -> None:
    slugs = {create_event(client, organizer)["slug"] for _ in range(3)}
    assert slugs == {"lagos-jazz-night", "lagos-jazz-night-2", "lagos-jazz-night-3"}


def test_title_without_latin_letters_gets_a_generic_slug(
    client: TestClient, organizer: Organizer
) -> None:
    assert create_event(client, organizer, title="音楽祭")["slug"] == "event"
    assert create_event(client, organizer, title="Fête à Café")["slug"] == "fete-a-cafe"


def test_explicit_slug_is_used_and_a_taken_one_is_refused(
    client: TestClient, organizer: Organizer
) -> None:
    assert create_event(client, organizer, slug="jazz-2030")["slug"] == "jazz-2030"
    resp = client.post(
        _events_url(organizer), json=event_body(slug="jazz-2030"), headers=organizer.headers
    )
    assert resp.status_code == 409
    assert resp.json()["code"] == "slug_taken"
    bad = client.post(
        _events_url(organizer), json=event_body(slug="Not A Slug"), headers=organizer.headers
    )
    assert bad.status_code == 422


def test_full_event_keeps_venue_online_link_and_visibility(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(
        client,
        organizer,
        description="Two stages.",
        visibility="unlisted",
        venue={"name": "Muri Okunola Park", "address": "Victoria Island, Lagos"},
        online_url="https://stream.example.com/jazz",
        reservation_minutes=30,
    )
    assert event["venue"] == {"name": "Muri Okunola Park", "address": "Victoria Island, Lagos"}
    assert event["online_url"] == "https://stream.example.com/jazz"
    assert event["visibility"] == "unlisted"
    assert event["reservation_minutes"] == 30
    assert event["description"] == "Two stages."


def test_event_ending_before_it_starts_is_refused(client: TestClient, organizer: Organizer) -> None:
    starts = utcnow() + timedelta(days=3)
    body = event_body(
        starts_at=starts.isoformat(), ends_at=(starts - timedelta(hours=1)).isoformat()
    )
    resp = client.post(_events_url(organizer), json=body, headers=organizer.headers)
    assert resp.status_code == 422
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json()["code"] == "invalid_schedule"
    same = event_body(starts_at=starts.isoformat(), ends_at=starts.isoformat())
    assert (
        client.post(_events_url(organizer), json=same, headers=organizer.headers).json()["code"]
        == "invalid_schedule"
    )


def test_event_already_over_is_refused(client: TestClient, organizer: Organizer) -> None:
    past = utcnow() - timedelta(days=2)
    body = event_body(starts_at=past.isoformat(), ends_at=(past + timedelta(hours=2)).isoformat())
    resp = client.post(_events_url(organizer), json=body, headers=organizer.headers)
    assert resp.status_code == 422
    assert resp.json()["code"] == "event_in_past"


def test_unknown_timezone_is_refused_with_its_code(
    client: TestClient, organizer: Organizer
) -> None:
    for tz in ("Mars/Olympus_Mons", "localtime", "../../etc/passwd", "WAT"):
        resp = client.post(
            _events_url(organizer), json=event_body(timezone=tz), headers=organizer.headers
        )
        assert resp.status_code == 422, tz
        assert resp.json()["code"] == "invalid_timezone"


def test_naive_datetimes_and_unknown_fields_are_refused(
    client: TestClient, organizer: Organizer
) -> None:
    naive = event_body(starts_at="2030-01-01T10:00:00", ends_at="2030-01-01T12:00:00")
    resp = client.post(_events_url(organizer), json=naive, headers=organizer.headers)
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"
    extra = client.post(
        _events_url(organizer), json=event_body(colour="red"), headers=organizer.headers
    )
    assert extra.status_code == 422
    ftp = client.post(
        _events_url(organizer),
        json=event_body(online_url="ftp://x.example"),
        headers=organizer.headers,
    )
    assert ftp.status_code == 422
    missing = client.post(_events_url(organizer), json={"title": "x"}, headers=organizer.headers)
    assert missing.status_code == 422
    assert {tuple(e["loc"]) for e in missing.json()["errors"]} >= {
        ("body", "starts_at"),
        ("body", "ends_at"),
        ("body", "timezone"),
    }


def test_unknown_cover_file_is_refused(client: TestClient, organizer: Organizer) -> None:
    resp = client.post(
        _events_url(organizer),
        json=event_body(cover_file_id="fil_" + "0" * 26),
        headers=organizer.headers,
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "unknown_file"


def test_wrong_id_prefix_is_422(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)
    wrong_org = client.post(
        f"/api/v1/organizations/{event['id']}/events", json=event_body(), headers=organizer.headers
    )
    assert wrong_org.status_code == 422
    assert wrong_org.json()["code"] == "validation_error"
    tier_id = TicketTierId.new()
    assert client.get(f"/api/v1/events/{tier_id}", headers=organizer.headers).status_code == 422
    assert (
        client.patch(f"/api/v1/tiers/{event['id']}", json={}, headers=organizer.headers).status_code
        == 422
    )
    assert client.get("/api/v1/events/evt_nope", headers=organizer.headers).status_code == 422


# --- access -------------------------------------------------------------------------------


def test_anonymous_caller_is_401(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)
    assert client.post(_events_url(organizer), json=event_body()).status_code == 401
    resp = client.get(f"/api/v1/events/{event['id']}")
    assert resp.status_code == 401
    assert resp.json()["code"] == "unauthorized"


def test_stranger_cannot_see_or_change_an_event(
    client: TestClient, organizer: Organizer, stranger_headers: dict[str, str]
) -> None:
    event = create_event(client, organizer)
    eid = event["id"]
    for method, url, body in (
        ("GET", f"/api/v1/events/{eid}", None),
        ("PATCH", f"/api/v1/events/{eid}", {"title": "Mine now"}),
        ("POST", f"/api/v1/events/{eid}/publish", None),
        ("POST", f"/api/v1/events/{eid}/cancel", None),
        ("GET", f"/api/v1/events/{eid}/tiers", None),
        ("POST", f"/api/v1/events/{eid}/sessions", None),
    ):
        resp = client.request(method, url, json=body, headers=stranger_headers)
        if resp.status_code == 422:  # the body was checked first; send a valid one
            continue
        assert resp.status_code == 404, (method, url, resp.text)
        assert resp.json()["code"] == "event_not_found"
    unknown = client.get(f"/api/v1/events/{EventId.new()}", headers=organizer.headers)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "event_not_found"
    create = client.post(_events_url(organizer), json=event_body(), headers=stranger_headers)
    assert create.status_code == 404
    listing = client.get(_events_url(organizer), headers=stranger_headers)
    assert listing.status_code == 404


def test_viewer_reads_but_cannot_change(
    client: TestClient, organizer: Organizer, member_headers
) -> None:  # type: ignore[no-untyped-def]
    viewer = member_headers("viewer")
    event = create_event(client, organizer)
    assert client.get(f"/api/v1/events/{event['id']}", headers=viewer).status_code == 200
    assert client.get(_events_url(organizer), headers=viewer).status_code == 200
    for method, url, body in (
        ("POST", _events_url(organizer), event_body()),
        ("PATCH", f"/api/v1/events/{event['id']}", {"title": "Renamed"}),
        ("POST", f"/api/v1/events/{event['id']}/publish", None),
        ("POST", f"/api/v1/events/{event['id']}/cancel", None),
        (
            "POST",
            f"/api/v1/events/{event['id']}/tiers",
            {"name": "x", "price": {"amount": 0, "currency": "NGN"}, "capacity": 1},
        ),
    ):
        resp = client.request(method, url, json=body, headers=viewer)
        assert resp.status_code == 403, (method, url, resp.text)
        assert resp.json()["code"] == "capability_required"
        assert "capability" in resp.json()


def test_marketing_edits_the_event_but_not_its_tiers(
    client: TestClient, organizer: Organizer, member_headers
) -> None:  # type: ignore[no-untyped-def]
    marketing = member_headers("marketing")
    event = create_event(client, organizer)
    tier = create_tier(client, organizer, event["id"])
    edit = client.patch(
        f"/api/v1/events/{event['id']}",
        json={"description": "Now with fireworks"},
        headers=marketing,
    )
    assert edit.status_code == 200
    resp = client.patch(f"/api/v1/tiers/{tier['id']}", json={"capacity": 5}, headers=marketing)
    assert resp.status_code == 403
    assert resp.json()["capability"] == "tier.manage"


def test_member_limited_to_some_events_lists_only_those(
    client: TestClient, organizer: Organizer, member_headers
) -> None:  # type: ignore[no-untyped-def]
    mine = create_event(client, organizer, title="Mine")
    other = create_event(client, organizer, title="Other")
    manager = member_headers("manager", [mine["id"]])
    listing = client.get(_events_url(organizer), headers=manager).json()
    assert [e["id"] for e in listing["items"]] == [mine["id"]]
    assert client.get(f"/api/v1/events/{other['id']}", headers=manager).status_code == 404
    assert client.get(f"/api/v1/events/{mine['id']}", headers=manager).status_code == 200
    assert (
        client.post(_events_url(organizer), json=event_body(), headers=manager).status_code == 403
    )


# --- listing ------------------------------------------------------------------------------


def test_organizer_list_is_cursor_paginated_by_start(
    client: TestClient, organizer: Organizer
) -> None:
    base = utcnow() + timedelta(days=10)
    ids = []
    for days in (3, 1, 2):
        starts = base + timedelta(days=days)
        ids.append(
            (
                days,
                create_event(
                    client,
                    organizer,
                    starts_at=starts.isoformat(),
                    ends_at=(starts + timedelta(hours=1)).isoformat(),
                )["id"],
            )
        )
    expected = [eid for _, eid in sorted(ids)]
    first = client.get(
        _events_url(organizer), params={"limit": 2}, headers=organizer.headers
    ).json()
    assert [e["id"] for e in first["items"]] == expected[:2]
    assert first["next_cursor"]
    second = client.get(
        _events_url(organizer),
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=organizer.headers,
    ).json()
    assert [e["id"] for e in second["items"]] == expected[2:]
    assert second["next_cursor"] is None
    drafts = client.get(
        _events_url(organizer), params={"status": "published"}, headers=organizer.headers
    ).json()
    assert drafts["items"] == []


def test_forged_cursor_is_422(client: TestClient, organizer: Organizer) -> None:
    for cursor in ("not-base64!", "WzFd", "WyJub3QgYSBkYXRlIiwgIngiXQ=="):
        resp = client.get(
            _events_url(organizer), params={"cursor": cursor}, headers=organizer.headers
        )
        assert resp.status_code == 422, cursor
        assert resp.json()["code"] == "invalid_cursor"
    bad_status = client.get(
        _events_url(organizer), params={"status": "x"}, headers=organizer.headers
    )
    assert bad_status.status_code == 422


# --- editing ------------------------------------------------------------------------------


def test_patch_changes_only_what_was_sent_and_is_audited(
    client: TestClient, organizer: Organizer, db: Database
) -> None:
    event = create_event(client, organizer, description="Old", online_url="https://a.example/x")
    resp = client.patch(
        f"/api/v1/events/{event['id']}",
        json={"title": "New title", "online_url": None, "venue": {"name": "Hall"}},
        headers=organizer.headers,
    )
    assert resp.status_code == 200, resp.text
    after = resp.json()
    assert after["title"] == "New title"
    assert after["description"] == "Old"
    assert after["online_url"] is None
    assert after["venue"] == {"name": "Hall", "address": None}
    assert after["slug"] == event["slug"]  # the slug does not follow the title
    entry = db.query(
        lambda s: s.scalars(
            select(AuditEntry).where(
                AuditEntry.target_id == event["id"], AuditEntry.action == "event.updated"
            )
        ).one()
    )
    assert entry.before == {
        "title": "Lagos Jazz Night",
        "online_url": "https://a.example/x",
        "venue_name": None,
    }
    assert entry.after == {"title": "New title", "online_url": None, "venue_name": "Hall"}
    assert entry.actor_user_id == organizer.user.id


def test_patch_refuses_null_for_required_fields_and_bad_values(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    url = f"/api/v1/events/{event['id']}"
    assert client.patch(url, json={"title": None}, headers=organizer.headers).status_code == 422
    tz = client.patch(url, json={"timezone": "Lagos"}, headers=organizer.headers)
    assert tz.json()["code"] == "invalid_timezone"
    early_end = client.patch(
        url,
        json={
            "ends_at": (
                datetime.fromisoformat(event["starts_at"]) - timedelta(minutes=1)
            ).isoformat()
        },
        headers=organizer.headers,
    )
    assert early_end.status_code == 422
    assert early_end.json()["code"] == "invalid_schedule"
    assert client.get(url, headers=organizer.headers).json()["title"] == event["title"]


def test_slug_can_change_while_draft_only(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)
    url = f"/api/v1/events/{event['id']}"
    assert (
        client.patch(url, json={"slug": "my-jazz"}, headers=organizer.headers).json()["slug"]
        == "my-jazz"
    )
    taken = create_event(client, organizer, title="Other")["slug"]
    clash = client.patch(url, json={"slug": taken}, headers=organizer.headers)
    assert clash.status_code == 409
    assert clash.json()["code"] == "slug_taken"
    create_tier(client, organizer, event["id"])
    client.post(f"{url}/publish", headers=organizer.headers)
    locked = client.patch(url, json={"slug": "another"}, headers=organizer.headers)
    assert locked.status_code == 409
    assert locked.json()["code"] == "event_not_editable"


# --- lifecycle ----------------------------------------------------------------------------


def test_publish_needs_a_tier(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)
    resp = client.post(f"/api/v1/events/{event['id']}/publish", headers=organizer.headers)
    assert resp.status_code == 409
    assert resp.json()["code"] == "event_has_no_tiers"
    create_tier(client, organizer, event["id"])
    published = client.post(f"/api/v1/events/{event['id']}/publish", headers=organizer.headers)
    assert published.status_code == 200
    assert published.json()["status"] == "published"
    assert published.json()["published_at"] is not None


def test_publishing_twice_is_a_no_op(
    client: TestClient, organizer: Organizer, db: Database
) -> None:
    event = published_event(client, organizer)
    again = client.post(f"/api/v1/events/{event['id']}/publish", headers=organizer.headers)
    assert again.status_code == 200
    assert again.json()["published_at"] == event["published_at"]
    actions = db.query(
        lambda s: list(
            s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == event["id"]))
        )
    )
    assert actions.count("event.published") == 1


def test_cancel_schedules_the_orders_job_once(
    client: TestClient, organizer: Organizer, db: Database
) -> None:
    event = published_event(client, organizer)
    url = f"/api/v1/events/{event['id']}/cancel"
    resp = client.post(url, headers=organizer.headers)
    assert resp.status_code == 200
    assert resp.json()["status"] == "cancelled"
    assert resp.json()["cancelled_at"] is not None
    assert client.post(url, headers=organizer.headers).status_code == 200
    scheduled = db.query(
        lambda s: [
            (j.name, j.args)
            for j in s.scalars(select(Job).where(Job.name == "orders.cancel_event"))
        ]
    )
    assert scheduled == [("orders.cancel_event", {"event_id": event["id"]})]


def test_cancelled_event_is_read_only(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)
    tier = create_tier(client, organizer, event["id"])
    client.post(f"/api/v1/events/{event['id']}/cancel", headers=organizer.headers)
    for method, url, body in (
        ("PATCH", f"/api/v1/events/{event['id']}", {"title": "Back on"}),
        ("POST", f"/api/v1/events/{event['id']}/publish", None),
        (
            "POST",
            f"/api/v1/events/{event['id']}/tiers",
            {"name": "x", "price": {"amount": 0, "currency": "NGN"}, "capacity": 1},
        ),
        ("PATCH", f"/api/v1/tiers/{tier['id']}", {"capacity": 5}),
    ):
        resp = client.request(method, url, json=body, headers=organizer.headers)
        assert resp.status_code == 409, (method, url, resp.text)
        assert resp.json()["code"] == "event_not_editable"


def test_end_past_cron_ends_published_events_after_their_end(
    client: TestClient, organizer: Organizer, db: Database, run_jobs
) -> None:  # type: ignore[no-untyped-def]
    event = published_event(client, organizer)
    draft = create_event(client, organizer, title="Draft")
    ends_at = datetime.fromisoformat(event["ends_at"])
    from admitone.core import jobs

    with time_machine.travel(ends_at + timedelta(minutes=1), tick=False):
        db.mutation(lambda s: jobs.schedule(s, "events.end_past", {"trigger": "test"}))
        assert run_jobs() >= 1
    statuses = db.query(
        lambda s: dict(
            s.execute(
                select(Event.id, Event.status).where(Event.id.in_([event["id"], draft["id"]]))
            ).all()
        )
    )
    assert statuses == {event["id"]: "ended", draft["id"]: "draft"}
    ended = client.get(f"/api/v1/events/{event['id']}", headers=organizer.headers).json()
    assert ended["ended_at"] is not None
    cancel = client.post(f"/api/v1/events/{event['id']}/cancel", headers=organizer.headers)
    assert cancel.status_code == 409
    assert cancel.json()["code"] == "event_not_editable"


def test_end_past_cron_is_registered() -> None:
    from admitone.core import jobs

    assert "events.end_past" in jobs.registered_crons()
    assert "events.end_past" in jobs.registered_jobs()


def test_publishing_an_event_that_is_over_is_refused(
    client: TestClient, organizer: Organizer
) -> None:
    starts = utcnow() + timedelta(minutes=1)
    event = create_event(
        client,
        organizer,
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(minutes=4)).isoformat(),
    )
    create_tier(client, organizer, event["id"])
    # Ten minutes on: the event is over, the access token (15 minutes) still valid.
    with time_machine.travel(utcnow() + timedelta(minutes=10)):
        resp = client.post(f"/api/v1/events/{event['id']}/publish", headers=organizer.headers)
    assert resp.status_code == 422
    assert resp.json()["code"] == "event_in_past"


def test_cancel_job_runs_through_the_orders_domain_handler(
    client: TestClient, organizer: Organizer, db: Database, run_jobs
) -> None:  # type: ignore[no-untyped-def]
    event = published_event(client, organizer)
    client.post(f"/api/v1/events/{event['id']}/cancel", headers=organizer.headers)
    run_jobs()
    status = db.query(
        lambda s: s.scalar(select(Job.status).where(Job.name == "orders.cancel_event"))
    )
    assert status == "done"


def test_the_document_says_online_url_takes_http_and_https_only(client: TestClient) -> None:
    """The contract matches the check: `format: uri` alone admits ftp:, which gets a 422."""
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("EventCreate", "EventUpdate"):
        variants = schema[name]["properties"]["online_url"]["anyOf"]
        (url,) = [v for v in variants if v.get("type") == "string"]
        pattern = re.compile(url["pattern"])
        assert pattern.search("https://stream.example/live")
        assert pattern.search("HTTP://stream.example/live")
        assert not pattern.search("ftp://x.example")
        assert not pattern.search("mailto:a@b.example")
