"""Passes: issuing with unique codes, signed QR payloads, revocation, and the pass routes."""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET

import pytest
import segno
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.core.db import Database
from admitone.passes import service as passes
from admitone.passes.codes import (
    CROCKFORD,
    BadQr,
    event_public_key,
    normalize_code,
    sign_qr,
    verify_qr,
)
from admitone.passes.errors import NoPassRequests
from admitone.passes.models import Pass
from admitone.passes.service import PassRequest
from admitone.settings import Settings
from tests.factories import (
    add_team_member,
    auth_headers,
    make_event,
    make_order,
    make_organization,
    make_pass,
    make_tier,
    make_user,
)

SECRET = b"test-secret-key-0123456789abcdef"


def _issue(session: Session, n: int = 2, holder: str | None = None) -> tuple[list[Pass], str]:
    owner = make_user(session)
    org = make_organization(session, owner)
    event = make_event(session, org)
    tier = make_tier(session, event)
    order, item = make_order(session, event, tier, quantity=n)
    issued = passes.issue_passes(
        session,
        event_id=event.id,
        order_id=order.id,
        holder_user_id=holder,
        requests=[PassRequest(item.id, tier.id, f"Guest {i}", None) for i in range(n)],
    )
    return issued, order.id


def test_issue_passes_gives_each_person_a_distinct_typeable_code(db: Database) -> None:
    with db.session() as session:
        issued, order_id = _issue(session, n=5)
        assert len(issued) == 5
        codes = {p.code for p in issued}
        assert len(codes) == 5
        assert all(len(c) == 10 and set(c) <= set(CROCKFORD) for c in codes)
        assert [p.attendee_name for p in passes.passes_for_order(session, order_id)] == [
            f"Guest {i}" for i in range(5)
        ]
        assert all(p.status == "valid" for p in issued)


def test_issue_passes_refuses_an_empty_request_list(db: Database) -> None:
    with db.session() as session, pytest.raises(NoPassRequests):
        passes.issue_passes(session, event_id="e", order_id="o", holder_user_id=None, requests=[])


def test_typed_codes_are_normalised_and_look_alikes_folded() -> None:
    assert normalize_code(" abcde-fghjk ") == "ABCDEFGHJK"
    assert normalize_code("O1IL0abcde") == "0111" + "0ABCDE"
    assert normalize_code("short") is None
    assert normalize_code("ABCDE!GHJK") is None


def test_revoke_with_count_revokes_the_newest_valid_passes_once(db: Database) -> None:
    with db.session() as session:
        issued, order_id = _issue(session, n=3)
        first = passes.revoke_passes(session, order_id=order_id, count=2, reason="refund")
        assert [p.id for p in first] == [issued[2].id, issued[1].id]
        assert all(p.status == "revoked" and p.revoked_reason == "refund" for p in first)
        again = passes.revoke_passes(session, order_id=order_id, count=2, reason="refund")
        assert [p.id for p in again] == [issued[0].id]
        assert passes.revoke_passes(session, order_id=order_id, reason="refund") == []


def test_revoke_of_one_item_leaves_other_items_valid(db: Database) -> None:
    with db.session() as session:
        issued, order_id = _issue(session, n=2)
        other = make_pass(session, *_event_and_tier(session, issued[0]))
        revoked = passes.revoke_passes(
            session, order_id=order_id, order_item_id=issued[0].order_item_id, reason="cancel"
        )
        assert {p.id for p in revoked} == {issued[0].id, issued[1].id}
        assert session.get(Pass, other.id).status == "valid"  # type: ignore[union-attr]


def _event_and_tier(session: Session, p: Pass):  # type: ignore[no-untyped-def]
    from admitone.events.models import Event, TicketTier

    return session.get(Event, p.event_id), session.get(TicketTier, p.tier_id)


def test_qr_payload_verifies_and_names_pass_event_and_code(settings: Settings) -> None:
    payload = sign_qr(
        SECRET,
        pass_id="pas_01JD3X0000000000000000000A",
        event_id="evt_01JD3X0000000000000000000B",
        code="ABCDEFGHJK",
    )
    assert payload.startswith("AO1.")
    assert len(payload) < 160
    claims = verify_qr(SECRET, payload)
    assert (claims.pass_id, claims.event_id, claims.code) == (
        "pas_01JD3X0000000000000000000A",
        "evt_01JD3X0000000000000000000B",
        "ABCDEFGHJK",
    )


@pytest.mark.parametrize("position", [5, 20, 40, 60, 120])
def test_a_payload_with_any_changed_byte_fails_verification(position: int) -> None:
    payload = sign_qr(
        SECRET,
        pass_id="pas_01JD3X0000000000000000000A",
        event_id="evt_01JD3X0000000000000000000B",
        code="ABCDEFGHJK",
    )
    raw = bytearray(base64.urlsafe_b64decode(payload[4:] + "=" * (-len(payload[4:]) % 4)))
    raw[position % len(raw)] ^= 0x01
    tampered = "AO1." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(BadQr):
        verify_qr(SECRET, tampered)


@pytest.mark.parametrize("junk", ["", "AO1.", "AO1.!!!!", "AO2.abc", "AO1." + "A" * 143, "x" * 500])
def test_junk_payloads_are_refused(junk: str) -> None:
    with pytest.raises(BadQr):
        verify_qr(SECRET, junk)


def test_a_payload_signed_with_another_secret_fails() -> None:
    payload = sign_qr(
        b"another secret",
        pass_id="pas_01JD3X0000000000000000000A",
        event_id="evt_01JD3X0000000000000000000B",
        code="ABCDEFGHJK",
    )
    with pytest.raises(BadQr):
        verify_qr(SECRET, payload)


def test_scanner_verifies_offline_with_only_the_event_public_key() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    event_id = "evt_01JD3X0000000000000000000B"
    payload = sign_qr(
        SECRET, pass_id="pas_01JD3X0000000000000000000A", event_id=event_id, code="ABCDEFGHJK"
    )
    public = base64.urlsafe_b64decode(event_public_key(SECRET, event_id) + "=")
    raw = base64.urlsafe_b64decode(payload[4:] + "=" * (-len(payload[4:]) % 4))
    Ed25519PublicKey.from_public_bytes(public).verify(raw[43:], raw[:43])
    assert event_public_key(SECRET, event_id) != event_public_key(
        SECRET, "evt_01JD3X0000000000000000000C"
    )


# --- routes --------------------------------------------------------------------------------


def test_holder_reads_pass_and_its_qr_svg_decodes_to_payload(
    db: Database, client: TestClient, settings: Settings
) -> None:
    with db.session() as session:
        holder = make_user(session)
        issued, _ = _issue(session, n=1, holder=holder.id)
        headers = auth_headers(session, settings, holder)
    body = client.get(f"/api/v1/passes/{issued[0].id}", headers=headers).json()
    assert body["code"] == issued[0].code
    assert verify_qr(settings.secret, body["qr"]).pass_id == issued[0].id
    svg = client.get(f"/api/v1/passes/{issued[0].id}/qr.svg", headers=headers)
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(svg.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    path = root.find("{http://www.w3.org/2000/svg}path")
    assert path is not None
    assert path.get("d")
    # No QR decoder is installed here: check instead that the symbol is the one segno makes
    # for the pass's payload (a version 8-M code: 49 modules + 2 x 4 quiet zone, 4 px each).
    expected = segno.make_qr(body["qr"], error="m")
    assert expected.designator == "8-M"
    assert (int(root.get("width", 0)), int(root.get("height", 0))) == (228, 228)
    out = io.BytesIO()
    expected.save(
        out, kind="svg", scale=4, border=4, xmldecl=True, svgns=True, title="Pass QR code"
    )
    assert svg.content == out.getvalue()


def test_organizer_with_event_read_sees_a_pass_and_a_stranger_gets_404(
    db: Database, client: TestClient, settings: Settings
) -> None:
    with db.session() as session:
        issued, _ = _issue(session, n=1)
        org_id = session.execute(select(Pass.event_id).where(Pass.id == issued[0].id)).scalar_one()
        from admitone.events.models import Event
        from admitone.orgs.models import Organization

        event = session.get(Event, org_id)
        org = session.get(Organization, event.organization_id)  # type: ignore[union-attr]
        viewer = make_user(session)
        add_team_member(session, org, viewer, "door_staff")  # type: ignore[arg-type]
        stranger = make_user(session)
        viewer_h = auth_headers(session, settings, viewer)
        stranger_h = auth_headers(session, settings, stranger)
    seen = client.get(f"/api/v1/passes/{issued[0].id}", headers=viewer_h)
    assert seen.status_code == 200, seen.text
    resp = client.get(f"/api/v1/passes/{issued[0].id}", headers=stranger_h)
    assert resp.status_code == 404
    assert resp.json()["code"] == "pass_not_found"
    assert (
        client.get(f"/api/v1/passes/{issued[0].id}/qr.svg", headers=stranger_h).status_code == 404
    )
    assert client.get(f"/api/v1/passes/{issued[0].id}").status_code == 401


def test_pass_route_rejects_an_id_of_another_table(
    db: Database, client: TestClient, settings: Settings
) -> None:
    with db.session() as session:
        headers = auth_headers(session, settings, make_user(session))
    resp = client.get("/api/v1/passes/evt_01JD3X0000000000000000000B", headers=headers)
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"


def test_me_passes_lists_only_my_passes_newest_first_with_cursor(
    db: Database, client: TestClient, settings: Settings
) -> None:
    with db.session() as session:
        me = make_user(session)
        mine, _ = _issue(session, n=3, holder=me.id)
        _issue(session, n=2)
        headers = auth_headers(session, settings, me)
    first = client.get("/api/v1/me/passes?limit=2", headers=headers).json()
    assert [p["id"] for p in first["items"]] == [mine[2].id, mine[1].id]
    second = client.get(
        f"/api/v1/me/passes?limit=2&cursor={first['next_cursor']}", headers=headers
    ).json()
    assert [p["id"] for p in second["items"]] == [mine[0].id]
    assert second["next_cursor"] is None
    bad = client.get("/api/v1/me/passes?cursor=nonsense", headers=headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_cursor"
