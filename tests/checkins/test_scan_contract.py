"""The door scan's bodies are built by hand on the hot path (not through `response_model`):
every kind of answer is validated here against the OpenAPI document the app serves. And a
public event's pass scanned by someone without door rights is refused with 403, not 404."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from admitone.core.clock import utcnow
from admitone.passes import service as passes
from tests.checkins.conftest import Door
from tests.factories import make_event, make_pass, make_tier


def _validator(door: Door, schema_name: str) -> Draft202012Validator:
    document = door.client.get("/openapi.json").json()
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"urn:openapi#/components/schemas/{schema_name}"}, registry=registry
    )


def _checkpoint(door: Door, **body: object) -> str:
    resp = door.client.post(
        f"/api/v1/events/{door.event.id}/checkpoints",
        json={"name": "Gate", **body},
        headers=door.manager,
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def test_every_kind_of_scan_answer_matches_the_openapi_schema(door: Door) -> None:
    validator = _validator(door, "ScanOut")
    with door.db.session() as session:
        other = make_event(session, door.org)
        foreign = make_pass(session, other, make_tier(session, other))
    revoked = door.passes[2]
    with door.db.session() as session:
        passes.revoke_passes(session, order_id=revoked.order_id, reason="refund")
    unpaid = door.new_pass(order_overrides={"status": "pending", "paid_at": None})
    vip_only = _checkpoint(door, tier_ids=[door.vip.id])
    later = (utcnow() + timedelta(days=1)).isoformat()
    closed = _checkpoint(door, opens_at=later)
    answers = [
        door.scan(door.passes[0].code, scan_id="s-1"),
        door.scan(door.passes[0].code),
        door.scan(door.passes[0].code, scan_id="s-1"),  # replayed
        door.scan("NOPE"),
        door.scan(foreign.code),
        door.scan(revoked.code),
        door.scan(unpaid.code),
        door.scan(door.passes[1].code, checkpoint_id=vip_only),
        door.scan(door.passes[1].code, checkpoint_id=closed),
    ]
    results = set()
    for resp in answers:
        assert resp.status_code == 200, resp.text
        errors = [e.message for e in validator.iter_errors(resp.json())]
        assert errors == [], (resp.json(), errors)
        results.add(resp.json()["result"])
    assert results == {
        "accepted",
        "already_checked_in",
        "invalid_code",
        "wrong_event",
        "revoked",
        "unpaid",
        "not_allowed_here",
        "outside_window",
    }
    # The check can fail: a body missing a required field is refused.
    broken = {k: v for k, v in answers[0].json().items() if k != "result"}
    assert list(validator.iter_errors(broken))


def test_offline_sync_answers_match_the_openapi_schema(door: Door) -> None:
    validator = _validator(door, "SyncOut")
    now = utcnow()
    body = {
        "device_id": "phone-1",
        "scans": [
            {"code": door.passes[0].code, "scanned_at": now.isoformat(), "nonce": "n-1"},
            {"code": door.passes[0].code, "scanned_at": now.isoformat(), "nonce": "n-2"},
            {"code": "NOPE", "scanned_at": now.isoformat(), "nonce": "n-3"},
        ],
    }
    resp = door.client.post(
        f"/api/v1/events/{door.event.id}/checkins/sync", json=body, headers=door.staff
    )
    assert resp.status_code == 200, resp.text
    assert [e.message for e in validator.iter_errors(resp.json())] == []


def test_public_event_scanned_without_door_rights_is_403_not_404(door: Door) -> None:
    code = door.passes[0].code
    # Not on the public pages yet (never published): its existence stays hidden.
    assert door.scan(code, headers=door.stranger).status_code == 404
    with door.db.session() as session:
        event = session.merge(door.event)
        event.published_at = utcnow()
        event.visibility = "public"
    refused = door.scan(code, headers=door.stranger)
    assert refused.status_code == 403
    assert refused.json()["code"] == "capability_required"
    assert refused.json()["capability"] == "checkin.scan"
    synced = door.client.post(
        f"/api/v1/events/{door.event.id}/checkins/sync",
        json={"scans": [{"code": code, "scanned_at": utcnow().isoformat(), "nonce": "x-1"}]},
        headers=door.stranger,
    )
    assert synced.status_code == 403
    # A stranger is still refused: nothing was admitted.
    assert door.result(code) == "accepted"
