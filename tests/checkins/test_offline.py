"""Offline: the bundle a scanner takes with it, and syncing the scans it made without a network."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from admitone.core.clock import utcnow
from admitone.passes import service as passes
from admitone.passes.service import pass_qr
from tests.checkins.conftest import Door


def _sync(
    door: Door, scans: list[dict[str, Any]], device: str = "tablet-1"
) -> list[dict[str, Any]]:
    resp = door.client.post(
        f"/api/v1/events/{door.event.id}/checkins/sync",
        json={"device_id": device, "scans": scans},
        headers=door.staff,
    )
    assert resp.status_code == 200, resp.text
    return list(resp.json()["results"])


def _at(when: datetime) -> str:
    return when.isoformat()


def test_offline_scan_earlier_than_the_recorded_entry_wins(door: Door) -> None:
    code = door.passes[0].code
    online = door.scan(code, device_id="gate-1").json()
    earlier = utcnow() - timedelta(minutes=10)
    [result] = _sync(door, [{"code": code, "scanned_at": _at(earlier), "nonce": "n-1"}])
    assert result["result"] == "accepted"
    assert result["superseded"]["device_id"] == "gate-1"
    assert result["superseded"]["scanned_at"] == online["scanned_at"]
    # The record now says the earliest scan admitted the person.
    repeat = door.scan(code, device_id="gate-3").json()
    assert repeat["first_device_id"] == "tablet-1"
    assert datetime.fromisoformat(repeat["first_checked_in_at"]) == earlier
    flagged = door.client.get(
        f"/api/v1/events/{door.event.id}/checkins/scans?needs_review=true", headers=door.staff
    ).json()["items"]
    assert {s["device_id"] for s in flagged} == {"gate-1", "tablet-1"}


def test_offline_scan_later_than_the_recorded_entry_is_a_conflict(door: Door) -> None:
    code = door.passes[0].code
    door.scan(code, device_id="gate-1")
    later = utcnow() + timedelta(seconds=30)
    [result] = _sync(door, [{"code": code, "scanned_at": _at(later), "nonce": "n-1"}])
    assert result["result"] == "already_checked_in"
    assert result["first_device_id"] == "gate-1"
    assert "conflict" in result["flags"]


def test_two_offline_devices_scanning_one_pass_the_earliest_wins_whatever_the_sync_order(
    door: Door,
) -> None:
    code = door.passes[0].code
    t0 = utcnow() - timedelta(minutes=30)
    [late] = _sync(
        door, [{"code": code, "scanned_at": _at(t0 + timedelta(minutes=5)), "nonce": "b"}], "b"
    )
    assert late["result"] == "accepted"
    [early] = _sync(door, [{"code": code, "scanned_at": _at(t0), "nonce": "a"}], "a")
    assert early["result"] == "accepted"
    stats = door.client.get(
        f"/api/v1/events/{door.event.id}/checkins/stats", headers=door.staff
    ).json()
    assert stats["checked_in"] == 1
    assert door.scan(code).json()["first_device_id"] == "a"


def test_batch_is_applied_earliest_first_and_answered_in_order(door: Door) -> None:
    code = door.passes[1].code
    t0 = utcnow() - timedelta(minutes=5)
    results = _sync(
        door,
        [
            {"code": code, "scanned_at": _at(t0 + timedelta(minutes=1)), "nonce": "second"},
            {"code": code, "scanned_at": _at(t0), "nonce": "first"},
            {"code": "NOPE", "scanned_at": _at(t0), "nonce": "junk"},
        ],
    )
    assert [r["result"] for r in results] == ["already_checked_in", "accepted", "invalid_code"]
    assert [r["scan_id"] for r in results] == ["second", "first", "junk"]


def test_offline_scan_of_a_pass_revoked_since_is_recorded_and_flagged(door: Door) -> None:
    p = door.passes[2]
    scanned = utcnow() - timedelta(minutes=3)
    with door.db.session() as session:
        passes.revoke_passes(session, order_id=p.order_id, reason="refund")
    [result] = _sync(door, [{"code": p.code, "scanned_at": _at(scanned), "nonce": "r-1"}])
    assert result["result"] == "accepted"
    assert "revoked_since_scan" in result["flags"]
    flagged = door.client.get(
        f"/api/v1/events/{door.event.id}/checkins/scans?needs_review=true", headers=door.staff
    ).json()["items"]
    assert [s["flags"] for s in flagged] == [["revoked_since_scan"]]
    # Online, the revoked pass is refused.
    assert door.result(p.code) == "revoked"


def test_offline_scan_after_the_revocation_is_revoked(door: Door) -> None:
    p = door.passes[2]
    with door.db.session() as session:
        passes.revoke_passes(session, order_id=p.order_id, reason="refund")
    later = utcnow() + timedelta(seconds=5)
    with time_machine.travel(later + timedelta(seconds=1), tick=False):
        [result] = _sync(door, [{"code": p.code, "scanned_at": _at(later), "nonce": "r-2"}])
    assert result["result"] == "revoked"


def test_syncing_the_same_batch_twice_changes_nothing(door: Door) -> None:
    scans = [
        {"code": p.code, "scanned_at": _at(utcnow() - timedelta(minutes=1)), "nonce": f"n-{i}"}
        for i, p in enumerate(door.passes)
    ]
    first = _sync(door, scans)
    second = _sync(door, scans)
    assert [r["result"] for r in first] == ["accepted"] * 3
    assert [r["result"] for r in second] == ["accepted"] * 3
    assert all(r["replayed"] for r in second)


def test_device_clock_far_ahead_is_replaced_by_server_time_and_flagged(door: Door) -> None:
    future = utcnow() + timedelta(days=1)
    [result] = _sync(door, [{"code": door.passes[0].code, "scanned_at": _at(future), "nonce": "f"}])
    assert result["result"] == "accepted"
    assert result["flags"] == ["device_clock_ahead"]
    assert datetime.fromisoformat(result["scanned_at"]) < future


def test_bad_sync_bodies_are_422(door: Door) -> None:
    url = f"/api/v1/events/{door.event.id}/checkins/sync"
    now = _at(utcnow())
    for body in (
        {"scans": []},
        {"scans": [{"code": "x", "nonce": "n"}]},
        {"scans": [{"code": "x", "scanned_at": "2026-01-01T10:00:00", "nonce": "n"}]},
        {"scans": [{"code": "x", "scanned_at": now, "nonce": ""}]},
        {"scans": [{"code": "x", "scanned_at": now, "nonce": str(i)} for i in range(1001)]},
    ):
        resp = door.client.post(url, json=body, headers=door.staff)
        assert resp.status_code == 422
        assert resp.json()["code"] == "validation_error"
    assert door.client.post(url, json={"scans": []}, headers=door.viewer).status_code == 422
    refused = door.client.post(
        url, json={"scans": [{"code": "x", "scanned_at": now, "nonce": "n"}]}, headers=door.viewer
    )
    assert refused.status_code == 403


def test_bundle_carries_a_key_that_verifies_the_passes_qr_offline(door: Door) -> None:
    resp = door.client.get(
        f"/api/v1/events/{door.event.id}/checkins/offline-bundle", headers=door.staff
    )
    assert resp.status_code == 200, resp.text
    bundle = resp.json()
    assert bundle["is_delta"] is False
    assert {p["id"] for p in bundle["passes"]} == {p.id for p in door.passes}
    assert set(bundle["passes"][0]) == {"id", "code", "tier_id", "attendee_name", "status"}
    assert bundle["checkpoints"][0]["is_default"] is True
    key = Ed25519PublicKey.from_public_bytes(
        base64.urlsafe_b64decode(bundle["key"]["public_key"] + "=")
    )
    payload = pass_qr(door.settings, door.passes[0])
    raw = base64.urlsafe_b64decode(payload[4:] + "=" * (-len(payload[4:]) % 4))
    key.verify(raw[43:], raw[:43])  # raises if it does not verify


def test_delta_bundle_has_only_what_changed_since_its_version(door: Door) -> None:
    url = f"/api/v1/events/{door.event.id}/checkins/offline-bundle"
    start = utcnow()
    # The door's passes were made at `start`: more than the overlap before the version.
    with time_machine.travel(start + timedelta(minutes=5), tick=True):
        version = door.client.get(url, headers=door.staff).json()["version"]
    with time_machine.travel(start + timedelta(minutes=8), tick=True):
        fresh = door.new_pass()
        door.scan(door.passes[0].code)
        delta = door.client.get(url, params={"since": version}, headers=door.staff).json()
    assert delta["is_delta"] is True
    assert [p["id"] for p in delta["passes"]] == [fresh.id]
    assert [c["pass_id"] for c in delta["check_ins"]] == [door.passes[0].id]
    naive = door.client.get(url, params={"since": "2026-01-01T00:00:00"}, headers=door.staff)
    assert naive.status_code == 422
