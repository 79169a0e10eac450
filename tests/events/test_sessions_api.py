"""Editing and deleting agenda sessions: the event's bounds, read-only events, access, audit,
and deletion refused while tiers or check-in checkpoints use the session."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from admitone.access.models import AuditEntry
from admitone.checkins.models import Checkpoint
from admitone.core.db import Database
from admitone.core.ids import CheckpointId, EventSessionId
from admitone.events import errors
from admitone.events import service as events
from admitone.events.models import Event, EventSession
from admitone.settings import Settings
from tests.events.conftest import Organizer, create_event, create_tier, published_event
from tests.factories import auth_headers, make_event, make_organization, make_session, make_user

PROBLEM = "application/problem+json"


def _at(event: dict[str, Any], hours: float) -> str:
    return (datetime.fromisoformat(event["starts_at"]) + timedelta(hours=hours)).isoformat()


def _add_session(
    client: TestClient, organizer: Organizer, event: dict[str, Any], start: float, hours: float
) -> dict[str, Any]:
    resp = client.post(
        f"/api/v1/events/{event['id']}/sessions",
        json={
            "title": f"Set at +{start}h",
            "starts_at": _at(event, start),
            "ends_at": _at(event, start + hours),
        },
        headers=organizer.headers,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _url(session_id: str) -> str:
    return f"/api/v1/sessions/{session_id}"


def _session_ids(client: TestClient, organizer: Organizer, event: dict[str, Any]) -> list[str]:
    listing = client.get(f"/api/v1/events/{event['id']}/sessions", headers=organizer.headers)
    return [s["id"] for s in listing.json()["items"]]


def _audit(db: Database, target_id: str) -> list[tuple[str, Any, Any]]:
    return db.query(
        lambda s: [
            (e.action, e.before, e.after)
            for e in s.scalars(
                select(AuditEntry)
                .where(AuditEntry.target_id == target_id)
                .order_by(AuditEntry.created_at, AuditEntry.id)
            )
        ]
    )


# --- editing -------------------------------------------------------------------------------


def test_patch_changes_only_what_was_sent_and_is_audited(
    client: TestClient, organizer: Organizer, db: Database
) -> None:
    event = create_event(client, organizer)  # four hours long
    slot = _add_session(client, organizer, event, 0, 1)
    resp = client.patch(
        _url(slot["id"]),
        json={"title": "  Keynote  ", "location": "Hall B", "ends_at": _at(event, 2)},
        headers=organizer.headers,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["id"] == slot["id"]
    assert body["event_id"] == event["id"]
    assert body["title"] == "Keynote"
    assert body["location"] == "Hall B"
    assert body["starts_at"] == slot["starts_at"]
    assert datetime.fromisoformat(body["ends_at"]) == datetime.fromisoformat(_at(event, 2))
    cleared = client.patch(_url(slot["id"]), json={"location": None}, headers=organizer.headers)
    assert cleared.json()["location"] is None
    assert cleared.json()["title"] == "Keynote"
    # A PATCH that changes nothing writes no audit row.
    same = client.patch(_url(slot["id"]), json={"title": "Keynote"}, headers=organizer.headers)
    assert same.status_code == 200
    entries = _audit(db, slot["id"])
    assert [a for a, _, _ in entries] == [
        "event_session.created",
        "event_session.updated",
        "event_session.updated",
    ]
    _, before, after = entries[1]
    assert set(before) == set(after) == {"title", "location", "ends_at"}
    assert (before["title"], after["title"]) == ("Set at +0h", "Keynote")
    assert entries[2][1:] == ({"location": "Hall B"}, {"location": None})


def test_times_in_another_offset_are_stored_in_utc(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    slot = _add_session(client, organizer, event, 0, 1)
    lagos = datetime.fromisoformat(_at(event, 1)).astimezone(timezone(timedelta(hours=1)))
    resp = client.patch(
        _url(slot["id"]),
        json={"starts_at": lagos.isoformat(), "ends_at": _at(event, 3)},
        headers=organizer.headers,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["starts_at"].endswith(("Z", "+00:00"))
    assert datetime.fromisoformat(resp.json()["starts_at"]) == lagos


def test_patch_keeps_the_session_inside_the_event(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)  # four hours long
    slot = _add_session(client, organizer, event, 1, 1)
    for change in (
        {"starts_at": _at(event, -1)},
        {"ends_at": _at(event, 5)},
        {"starts_at": _at(event, 3.5), "ends_at": _at(event, 4.5)},
    ):
        resp = client.patch(_url(slot["id"]), json=change, headers=organizer.headers)
        assert resp.status_code == 422, change
        assert resp.headers["content-type"] == PROBLEM
        assert resp.json()["code"] == "session_outside_event", change
    # Only one end sent: checked against the other, stored one.
    for change in ({"ends_at": _at(event, 0.5)}, {"starts_at": _at(event, 2)}):
        resp = client.patch(_url(slot["id"]), json=change, headers=organizer.headers)
        assert resp.status_code == 422, change
        assert resp.json()["code"] == "invalid_schedule", change
    # The whole event is a valid session.
    whole = client.patch(
        _url(slot["id"]),
        json={"starts_at": event["starts_at"], "ends_at": event["ends_at"]},
        headers=organizer.headers,
    )
    assert whole.status_code == 200, whole.text


def test_patch_refuses_nulls_naive_times_and_unknown_fields(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    slot = _add_session(client, organizer, event, 0, 1)
    naive = _at(event, 0.5)[:19]
    for body in (
        {"title": None},
        {"starts_at": None},
        {"ends_at": None},
        {"title": "   "},
        {"title": "x" * 201},
        {"starts_at": naive},
        {"ends_at": naive},
        {"capacity": 10},
    ):
        resp = client.patch(_url(slot["id"]), json=body, headers=organizer.headers)
        assert resp.status_code == 422, body
        assert resp.json()["code"] == "validation_error", body


def test_unknown_session_is_404_and_a_wrong_prefix_422(
    client: TestClient, organizer: Organizer
) -> None:
    missing = EventSessionId.new()
    patch = client.patch(_url(missing), json={"title": "X"}, headers=organizer.headers)
    delete = client.delete(_url(missing), headers=organizer.headers)
    for resp in (patch, delete):
        assert resp.status_code == 404
        assert resp.json()["code"] == "session_not_found"
    event = create_event(client, organizer)
    wrong = client.delete(_url(event["id"]), headers=organizer.headers)
    assert wrong.status_code == 422


# --- deleting ------------------------------------------------------------------------------


def test_delete_removes_the_session_and_is_audited(
    client: TestClient, organizer: Organizer, db: Database
) -> None:
    event = published_event(client, organizer)
    keep = _add_session(client, organizer, event, 0, 1)
    drop = _add_session(client, organizer, event, 2, 1)
    resp = client.delete(_url(drop["id"]), headers=organizer.headers)
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    assert _session_ids(client, organizer, event) == [keep["id"]]
    public = client.get(f"/api/v1/public/events/{event['slug']}").json()
    assert [s["id"] for s in public["sessions"]] == [keep["id"]]
    entries = _audit(db, drop["id"])
    assert [a for a, _, _ in entries] == ["event_session.created", "event_session.deleted"]
    _, before, after = entries[1]
    assert before["event_id"] == event["id"]
    assert before["title"] == "Set at +2h"
    assert after is None
    again = client.delete(_url(drop["id"]), headers=organizer.headers)
    assert again.status_code == 404
    assert again.json()["code"] == "session_not_found"
    gone = client.patch(_url(drop["id"]), json={"title": "X"}, headers=organizer.headers)
    assert gone.json()["code"] == "session_not_found"


def test_a_tier_open_to_every_session_does_not_hold_one(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    slot = _add_session(client, organizer, event, 0, 1)
    create_tier(client, organizer, event["id"])  # no session_ids: every session
    assert client.delete(_url(slot["id"]), headers=organizer.headers).status_code == 204


def test_session_a_tier_is_limited_to_cannot_be_deleted(
    client: TestClient, organizer: Organizer
) -> None:
    """Deleting the only session of a tier would leave it limited to none, which means
    every session: a silent widening, so it is refused until the tier changes."""
    event = create_event(client, organizer)
    day1 = _add_session(client, organizer, event, 0, 1)
    day2 = _add_session(client, organizer, event, 2, 1)
    first = create_tier(client, organizer, event["id"], name="Day 1", session_ids=[day1["id"]])
    both = create_tier(
        client, organizer, event["id"], name="Both", session_ids=[day1["id"], day2["id"]]
    )
    resp = client.delete(_url(day1["id"]), headers=organizer.headers)
    assert resp.status_code == 409, resp.text
    assert resp.headers["content-type"] == PROBLEM
    problem = resp.json()
    assert problem["code"] == "session_in_use"
    assert problem["tier_ids"] == sorted([first["id"], both["id"]])
    assert problem["checkpoint_ids"] == []
    assert _session_ids(client, organizer, event) == [day1["id"], day2["id"]]
    # Editing it is fine: the tiers keep pointing at it.
    renamed = client.patch(_url(day1["id"]), json={"title": "Opening"}, headers=organizer.headers)
    assert renamed.status_code == 200
    for tier in (first, both):
        moved = client.patch(
            f"/api/v1/tiers/{tier['id']}",
            json={"session_ids": [day2["id"]]},
            headers=organizer.headers,
        )
        assert moved.status_code == 200, moved.text
    assert client.delete(_url(day1["id"]), headers=organizer.headers).status_code == 204
    tiers = client.get(f"/api/v1/events/{event['id']}/tiers", headers=organizer.headers).json()
    assert [t["session_ids"] for t in tiers["items"]] == [[day2["id"]], [day2["id"]]]


def test_session_a_checkpoint_is_for_cannot_be_deleted(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    slot = _add_session(client, organizer, event, 0, 1)
    checkpoint = client.post(
        f"/api/v1/events/{event['id']}/checkpoints",
        json={"name": "Workshop door", "session_id": slot["id"]},
        headers=organizer.headers,
    )
    assert checkpoint.status_code == 201, checkpoint.text
    resp = client.delete(_url(slot["id"]), headers=organizer.headers)
    assert resp.status_code == 409
    assert resp.json()["code"] == "session_in_use"
    assert resp.json()["tier_ids"] == []
    assert resp.json()["checkpoint_ids"] == [checkpoint.json()["id"]]
    moved = client.patch(
        f"/api/v1/checkpoints/{checkpoint.json()['id']}",
        json={"session_id": None},
        headers=organizer.headers,
    )
    assert moved.status_code == 200, moved.text
    assert client.delete(_url(slot["id"]), headers=organizer.headers).status_code == 204


def test_foreign_keys_refuse_what_the_conditions_do_not_see(db: Database) -> None:
    """The conditional DELETE looks for links inside the session's event; a checkpoint of
    another event pointing at it (never made by the API) is still caught, by the foreign
    key, and answered with the same error instead of a 500."""
    with db.session() as s:
        owner = make_user(s)
        org = make_organization(s, owner)
        event, other = make_event(s, org, status="draft"), make_event(s, org, status="draft")
        slot = make_session(s, event)
        s.add(Checkpoint(id=CheckpointId.new(), event_id=other.id, name="Odd", session_id=slot.id))
    with pytest.raises(errors.SessionInUse) as refused:
        db.mutation(events.delete_session, owner.id, slot.id)
    assert len(refused.value.extra["checkpoint_ids"]) == 1
    assert db.query(lambda s: s.get(EventSession, slot.id)) is not None


# --- read-only events ----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["cancelled", "ended"])
def test_sessions_of_a_closed_event_cannot_change(
    client: TestClient, organizer: Organizer, db: Database, status: str
) -> None:
    event = published_event(client, organizer)
    slot = _add_session(client, organizer, event, 0, 1)
    db.mutation(
        lambda s: s.execute(update(Event).where(Event.id == event["id"]).values(status=status))
    )
    for resp in (
        client.patch(_url(slot["id"]), json={"title": "Late change"}, headers=organizer.headers),
        client.delete(_url(slot["id"]), headers=organizer.headers),
    ):
        assert resp.status_code == 409
        assert resp.json()["code"] == "event_not_editable"
    assert _session_ids(client, organizer, event) == [slot["id"]]


# --- access ----------------------------------------------------------------------------------


def test_anonymous_caller_is_401(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)
    slot = _add_session(client, organizer, event, 0, 1)
    assert client.patch(_url(slot["id"]), json={"title": "X"}).status_code == 401
    assert client.delete(_url(slot["id"])).status_code == 401


def test_stranger_and_other_organizations_get_404(
    client: TestClient,
    organizer: Organizer,
    stranger_headers: dict[str, str],
    db: Database,
    settings: Settings,
) -> None:
    event = create_event(client, organizer)
    slot = _add_session(client, organizer, event, 0, 1)
    with db.session() as s:
        rival = make_user(s)
        make_organization(s, rival, name="Rival Org")
        rival_headers = auth_headers(s, settings, rival)
    for headers in (stranger_headers, rival_headers):
        patch = client.patch(_url(slot["id"]), json={"title": "Mine"}, headers=headers)
        delete = client.delete(_url(slot["id"]), headers=headers)
        for resp in (patch, delete):
            assert resp.status_code == 404
            assert resp.json()["code"] == "session_not_found"
    assert _session_ids(client, organizer, event) == [slot["id"]]


def test_roles_without_event_update_get_403_and_limited_members_404(
    client: TestClient, organizer: Organizer, member_headers: Any
) -> None:
    event = create_event(client, organizer)
    other = create_event(client, organizer, title="Other")
    slot = _add_session(client, organizer, event, 0, 1)
    viewer = member_headers("viewer")
    for resp in (
        client.patch(_url(slot["id"]), json={"title": "X"}, headers=viewer),
        client.delete(_url(slot["id"]), headers=viewer),
    ):
        assert resp.status_code == 403
        assert resp.json()["code"] == "capability_required"
        assert resp.json()["capability"] == "event.update"
    elsewhere = member_headers("manager", event_ids=[other["id"]])
    assert client.delete(_url(slot["id"]), headers=elsewhere).status_code == 404
    marketing = member_headers("marketing")
    promo = client.patch(_url(slot["id"]), json={"title": "Promo"}, headers=marketing)
    assert promo.status_code == 200
    assert client.delete(_url(slot["id"]), headers=marketing).status_code == 204


# --- races (PostgreSQL) ----------------------------------------------------------------------


@pytest.mark.postgres
def test_checkpoint_committed_while_deleting_keeps_the_session(committed_db: Database) -> None:
    """A checkpoint for the session is being created (uncommitted) when the organizer
    deletes the session: the delete waits for it and is refused, never leaving a
    checkpoint that points at nothing."""
    with committed_db.session() as s:
        owner = make_user(s)
        event = make_event(s, make_organization(s, owner), status="draft")
        slot = make_session(s, event)
    outcome: list[Any] = []
    with committed_db.session() as s:
        s.add(Checkpoint(id=CheckpointId.new(), event_id=event.id, name="Door", session_id=slot.id))
        s.flush()

        def delete() -> None:
            try:
                committed_db.mutation(events.delete_session, owner.id, slot.id)
                outcome.append("deleted")
            except errors.SessionInUse as exc:
                outcome.append(exc)

        worker = threading.Thread(target=delete)
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive(), "the delete should wait for the uncommitted checkpoint"
    worker.join(timeout=10)
    [refused] = outcome
    assert isinstance(refused, errors.SessionInUse), refused
    assert refused.extra["checkpoint_ids"] != []
    assert committed_db.query(lambda s: s.get(EventSession, slot.id)) is not None
