"""Scanning: every result code, signed QR payloads, checkpoints, re-entry, scan_id retries."""

from __future__ import annotations

import base64
from datetime import timedelta

import time_machine
from sqlalchemy import func, select

from admitone.checkins.models import CheckIn, CheckInScan
from admitone.checkins.schemas import ScanOut
from admitone.core.clock import utcnow
from admitone.events.models import EventSession, ticket_tier_sessions
from admitone.passes import service as passes
from admitone.passes.codes import format_code, sign_qr
from admitone.passes.models import Pass
from admitone.passes.service import pass_qr
from tests.checkins.conftest import Door
from tests.factories import make_event, make_pass, make_tier


def _count(door: Door, model: type, **where: object) -> int:
    with door.db.session() as session:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return int(session.scalar(stmt) or 0)


def test_first_scan_admits_and_names_the_attendee(door: Door) -> None:
    p = door.passes[0]
    resp = door.scan(p.code, device_id="gate-1")
    assert resp.status_code == 200
    body = resp.json()
    assert body["result"] == "accepted"
    assert body["direction"] == "in"
    assert body["pass"]["id"] == p.id
    assert body["pass"]["tier_name"] == "Regular"
    assert body["attendee"]["name"] == "Guest 00"
    assert body["first_checked_in_at"] is None


def test_second_scan_is_already_checked_in_with_first_time_and_device(door: Door) -> None:
    p = door.passes[0]
    first = door.scan(p.code, device_id="gate-1").json()
    again = door.scan(format_code(p.code).lower(), device_id="gate-2").json()
    assert again["result"] == "already_checked_in"
    assert again["first_checked_in_at"] == first["scanned_at"]
    assert again["first_device_id"] == "gate-1"
    assert _count(door, CheckIn, pass_id=p.id) == 1
    assert _count(door, CheckInScan, pass_id=p.id) == 2  # the repeat is stored too


def test_signed_qr_payload_admits(door: Door) -> None:
    p = door.passes[1]
    assert door.result(pass_qr(door.settings, p)) == "accepted"
    assert door.result(pass_qr(door.settings, p)) == "already_checked_in"


def test_tampered_qr_payload_is_invalid_code(door: Door) -> None:
    p = door.passes[1]
    payload = pass_qr(door.settings, p)
    raw = bytearray(base64.urlsafe_b64decode(payload[4:] + "=" * (-len(payload[4:]) % 4)))
    raw[40] ^= 0x04  # inside the code
    tampered = "AO1." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    body = door.scan(tampered).json()
    assert body["result"] == "invalid_code"
    assert body["pass"] is None
    forged = sign_qr(b"not our secret", pass_id=p.id, event_id=p.event_id, code=p.code)
    assert door.result(forged) == "invalid_code"
    assert _count(door, CheckIn, pass_id=p.id) == 0


def test_unknown_and_malformed_codes_are_invalid_code(door: Door) -> None:
    assert door.result("ZZZZZZZZZZ") == "invalid_code"
    assert door.result("hello") == "invalid_code"
    assert door.result("AO1.%%%") == "invalid_code"
    assert door.result("AO1." + "A" * 143) == "invalid_code"


def test_pass_of_another_event_is_wrong_event_by_code_and_by_qr(door: Door) -> None:
    with door.db.session() as session:
        other = make_event(session, door.org)
        foreign = make_pass(session, other, make_tier(session, other))
    by_code = door.scan(foreign.code).json()
    assert by_code["result"] == "wrong_event"
    assert by_code["attendee"] is None  # nothing of another event's attendee leaks
    assert door.result(pass_qr(door.settings, foreign)) == "wrong_event"


def test_qr_with_event_id_swapped_for_ours_fails_signature(door: Door) -> None:
    with door.db.session() as session:
        other = make_event(session, door.org)
        foreign = make_pass(session, other, make_tier(session, other))
    payload = pass_qr(door.settings, foreign)
    raw = bytearray(base64.urlsafe_b64decode(payload[4:] + "=" * (-len(payload[4:]) % 4)))
    ours = base64.urlsafe_b64decode(
        sign_qr(door.settings.secret, pass_id=foreign.id, event_id=door.event.id, code="0" * 10)[4:]
        + "=="
    )
    raw[17:33] = ours[17:33]
    moved = "AO1." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert door.result(moved) == "invalid_code"


def test_revoked_pass_is_refused(door: Door) -> None:
    p = door.passes[2]
    with door.db.session() as session:
        passes.revoke_passes(session, order_id=p.order_id, reason="refund")
    body = door.scan(p.code).json()
    assert body["result"] == "revoked"
    assert body["pass"]["status"] == "revoked"


def test_pass_of_an_unpaid_order_is_unpaid(door: Door) -> None:
    p = door.new_pass(order_overrides={"status": "pending", "paid_at": None})
    body = door.scan(p.code).json()
    assert body["result"] == "unpaid"
    _names_the_pass(body, p)


def _names_the_pass(body: dict[str, object], p: Pass) -> None:
    """A refusal still tells the door whose pass it is (the staff can send them on)."""
    assert body["pass"] == {
        "id": p.id,
        "code": p.code,
        "tier_id": p.tier_id,
        "tier_name": body["pass"]["tier_name"],  # type: ignore[index]
        "status": p.status,
    }
    assert body["attendee"]["name"] == p.attendee_name  # type: ignore[index]


def _checkpoint(door: Door, **body: object) -> str:
    resp = door.client.post(
        f"/api/v1/events/{door.event.id}/checkpoints",
        json={"name": "Side door", **body},
        headers=door.manager,
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def test_tier_not_admitted_at_checkpoint_is_not_allowed_here(door: Door) -> None:
    vip_only = _checkpoint(door, tier_ids=[door.vip.id])
    body = door.scan(door.passes[0].code, checkpoint_id=vip_only).json()
    assert body["result"] == "not_allowed_here"
    _names_the_pass(body, door.passes[0])
    vip = door.new_pass(door.vip)
    assert door.result(vip.code, checkpoint_id=vip_only) == "accepted"


def test_tier_limited_to_other_sessions_is_not_allowed_at_a_session_checkpoint(
    door: Door,
) -> None:
    with door.db.session() as session:
        starts = door.event.starts_at
        talks = [
            EventSession(
                id=f"ses_{'0' * 25}{i}",
                event_id=door.event.id,
                title=f"Talk {i}",
                starts_at=starts,
                ends_at=starts + timedelta(hours=1),
            )
            for i in (1, 2)
        ]
        session.add_all(talks)
        session.flush()
        session.execute(
            ticket_tier_sessions.insert().values(tier_id=door.vip.id, session_id=talks[0].id)
        )
    room_two = _checkpoint(door, session_id=talks[1].id)
    vip = door.new_pass(door.vip)
    body = door.scan(vip.code, checkpoint_id=room_two).json()
    assert body["result"] == "not_allowed_here"
    _names_the_pass(body, vip)
    # ...and the session it is limited to lets it in.
    room_one = _checkpoint(door, name="Room one", session_id=talks[0].id)
    assert door.result(vip.code, checkpoint_id=room_one) == "accepted"
    # A tier with no session rows admits to every session.
    assert door.result(door.passes[0].code, checkpoint_id=room_two) == "accepted"


def test_closed_window_is_outside_window(door: Door) -> None:
    now = utcnow()
    later = _checkpoint(door, opens_at=(now + timedelta(minutes=10)).isoformat())
    closed = _checkpoint(
        door,
        name="Morning",
        opens_at=(now - timedelta(hours=2)).isoformat(),
        closes_at=(now - timedelta(hours=1)).isoformat(),
    )
    assert door.result(door.passes[0].code, checkpoint_id=later) == "outside_window"
    assert door.result(door.passes[0].code, checkpoint_id=closed) == "outside_window"
    with time_machine.travel(now + timedelta(minutes=11), tick=False):
        assert door.result(door.passes[0].code, checkpoint_id=later) == "accepted"


def test_reentry_checkpoint_alternates_in_and_out(door: Door) -> None:
    hall = _checkpoint(door, allows_reentry=True)
    code = door.passes[0].code
    directions = []
    for _ in range(4):
        body = door.scan(code, checkpoint_id=hall).json()
        assert body["result"] == "accepted"
        directions.append(body["direction"])
    assert directions == ["in", "out", "in", "out"]
    assert door.scan(code, checkpoint_id=hall).json()["direction"] == "in"
    stats = door.client.get(
        f"/api/v1/events/{door.event.id}/checkins/stats", headers=door.staff
    ).json()
    hall_stats = next(c for c in stats["by_checkpoint"] if c["checkpoint_id"] == hall)
    assert hall_stats == {"checkpoint_id": hall, "name": "Side door", "checked_in": 1, "inside": 1}
    assert stats["checked_in"] == 1


def test_checkpoints_admit_independently(door: Door) -> None:
    side = _checkpoint(door)
    code = door.passes[0].code
    assert door.result(code) == "accepted"
    assert door.result(code, checkpoint_id=side) == "accepted"
    assert door.result(code, checkpoint_id=side) == "already_checked_in"


def test_retry_with_the_same_scan_id_gets_the_same_answer(door: Door) -> None:
    code = door.passes[0].code
    first = door.scan(code, scan_id="scan-1", device_id="gate-1").json()
    retry = door.scan(code, scan_id="scan-1", device_id="gate-1").json()
    assert first["result"] == retry["result"] == "accepted"
    assert retry["replayed"] is True
    assert retry["check_in_id"] == first["check_in_id"]
    assert _count(door, CheckInScan, scan_id="scan-1") == 1
    assert door.result(code, scan_id="scan-2") == "already_checked_in"


def test_scan_id_used_at_another_event_is_409(door: Door) -> None:
    door.scan(door.passes[0].code, scan_id="shared")
    with door.db.session() as session:
        other = make_event(session, door.org)
    resp = door.client.post(
        f"/api/v1/events/{other.id}/checkins",
        json={"code": door.passes[0].code, "scan_id": "shared"},
        headers=door.owner,
    )
    assert resp.status_code == 409
    assert resp.json()["code"] == "scan_id_reused"


def test_checkpoint_of_another_event_is_404(door: Door) -> None:
    with door.db.session() as session:
        other = make_event(session, door.org)
    resp = door.client.post(
        f"/api/v1/events/{other.id}/checkpoints", json={"name": "x"}, headers=door.owner
    )
    assert resp.status_code == 201
    scan = door.scan(door.passes[0].code, checkpoint_id=resp.json()["id"])
    assert scan.status_code == 404
    assert scan.json()["code"] == "checkpoint_not_found"


def test_scan_needs_sign_in_a_role_and_the_capability(door: Door) -> None:
    code = door.passes[0].code
    assert door.scan(code, headers={}).status_code == 401
    assert door.scan(code, headers={"Authorization": "Basic dTpw"}).status_code == 401
    garbage = door.scan(code, headers={"Authorization": "Bearer not-a-token"})
    assert garbage.status_code == 401
    assert garbage.headers["www-authenticate"] == "Bearer"
    assert door.scan(code, headers=door.stranger).status_code == 404
    refused = door.scan(code, headers=door.viewer)
    assert refused.status_code == 403
    assert refused.json()["code"] == "capability_required"
    assert refused.json()["capability"] == "checkin.scan"
    assert _count(door, CheckInScan) == 0


def test_bad_scan_bodies_are_4xx_problems(door: Door) -> None:
    url = f"/api/v1/events/{door.event.id}/checkins"
    for body in ({}, {"code": ""}, {"code": "x" * 301}, {"code": "x", "checkpoint_id": "evt_1"}):
        resp = door.client.post(url, json=body, headers=door.staff)
        assert resp.status_code == 422, body
        assert resp.json()["code"] == "validation_error"
    bad_json = door.client.post(
        url, content=b"{", headers={**door.staff, "content-type": "application/json"}
    )
    assert bad_json.status_code == 400
    wrong_prefix = door.client.post(
        "/api/v1/events/tir_01JD3X0000000000000000000B/checkins",
        json={"code": "x"},
        headers=door.staff,
    )
    assert wrong_prefix.status_code == 422


def test_default_checkpoint_is_created_once_and_listed_first(door: Door) -> None:
    side = _checkpoint(door)
    listed = door.client.get(
        f"/api/v1/events/{door.event.id}/checkpoints", headers=door.staff
    ).json()
    again = door.client.get(
        f"/api/v1/events/{door.event.id}/checkpoints", headers=door.staff
    ).json()
    assert [c["id"] for c in listed] == [c["id"] for c in again]
    assert listed[0]["is_default"] is True
    assert listed[1]["id"] == side


def test_checkpoint_validation_and_update(door: Door) -> None:
    url = f"/api/v1/events/{door.event.id}/checkpoints"
    with door.db.session() as session:
        other = make_event(session, door.org)
        foreign_tier = make_tier(session, other)
    unknown = door.client.post(
        url, json={"name": "x", "tier_ids": [foreign_tier.id]}, headers=door.manager
    )
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "unknown_tier"
    now = utcnow()
    window = door.client.post(
        url,
        json={"name": "x", "opens_at": now.isoformat(), "closes_at": now.isoformat()},
        headers=door.manager,
    )
    assert window.json()["code"] == "invalid_window"
    naive = door.client.post(
        url, json={"name": "x", "opens_at": "2026-01-01T10:00:00"}, headers=door.manager
    )
    assert naive.status_code == 422
    assert door.client.post(url, json={"name": "x"}, headers=door.staff).status_code == 403
    cid = _checkpoint(door)
    patched = door.client.patch(
        f"/api/v1/checkpoints/{cid}", json={"allows_reentry": True}, headers=door.manager
    )
    assert patched.status_code == 200
    assert patched.json()["allows_reentry"] is True
    assert patched.json()["name"] == "Side door"
    null_name = door.client.patch(
        f"/api/v1/checkpoints/{cid}", json={"name": None}, headers=door.manager
    )
    assert null_name.status_code == 422
    missing = door.client.patch(
        "/api/v1/checkpoints/cpt_01JD3X0000000000000000000B", json={}, headers=door.manager
    )
    assert missing.json()["code"] == "checkpoint_not_found"


def test_every_scan_answer_matches_the_documented_shape(door: Door) -> None:
    answers = [
        door.scan(door.passes[0].code, scan_id="a").json(),
        door.scan(door.passes[0].code).json(),
        door.scan("NOPE").json(),
        door.scan(door.passes[0].code, scan_id="a").json(),
    ]
    for body in answers:
        ScanOut.model_validate(body)
        assert set(body) == set(ScanOut.model_fields) - {"pass_", "replayed"} | {"pass"} | (
            {"replayed"} if "replayed" in body else set()
        )
