"""Transferring a pass: the old QR is refused at the door (online at once, offline through
the bundle's delta), the new holder gets the pass by e-mail, wallet copies are pushed, the
order history and audit log record it, and two concurrent transfers cannot both win."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from admitone.access.models import AuditEntry
from admitone.checkout import transfer
from admitone.checkout.errors import PassNotTransferable
from admitone.core.db import Database
from admitone.passes.delivery.models import EventPassSettings
from admitone.passes.models import Pass
from admitone.passes.wallet.content import authentication_token
from admitone.settings import Settings
from tests.factories import (
    add_team_member,
    auth_headers,
    make_event,
    make_organization,
    make_pass,
    make_tier,
    make_user,
)
from tests.orders.shop import Shop, history, open_shop, order_body, place
from tests.passes.conftest import PASS_TYPE
from tests.passes.documents import pdf_qr_codes
from tests.passes.wallet_servers import ApnsServer


@pytest.fixture
def shop(db: Database, settings: Settings) -> Shop:
    return open_shop(db, settings)


@pytest.fixture
def buyer(db: Database, settings: Settings) -> dict[str, str]:
    with db.session() as s:
        return auth_headers(s, settings, make_user(s))


def _order(client: TestClient, shop: Shop, headers: dict[str, str]) -> dict[str, Any]:
    body = order_body(shop) | {"items": [{"tier_id": shop.free.id, "quantity": 1}]}
    resp = place(client, body, headers=headers)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _transfer(
    client: TestClient, pass_id: str, headers: dict[str, str], email: str = "bola@example.com"
) -> Any:
    return client.post(
        f"/api/v1/passes/{pass_id}/transfer",
        json={"email": email, "name": "Bola Ade"},
        headers=headers,
    )


def _scan(client: TestClient, shop: Shop, code: str) -> str:
    resp = client.post(
        f"/api/v1/events/{shop.event.id}/checkins", json={"code": code}, headers=shop.owner_headers
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["result"])


def test_transfer_revokes_the_old_qr_and_mails_the_new_holder(
    client: TestClient,
    db: Database,
    shop: Shop,
    buyer: dict[str, str],
    settings: Settings,
    apns: ApnsServer,
    run_jobs: Callable[[], int],
) -> None:
    order = _order(client, shop, buyer)
    old = order["passes"][0]
    # The buyer added the pass to Apple Wallet on a phone.
    reg = f"/support/v1/wallet/apple/v1/devices/phone/registrations/{PASS_TYPE}/{old['id']}"
    auth = {"Authorization": f"ApplePass {authentication_token(settings, old['id'])}"}
    assert client.post(reg, json={"pushToken": "ee" * 32}, headers=auth).status_code == 201
    bundle = client.get(
        f"/api/v1/events/{shop.event.id}/checkins/offline-bundle", headers=shop.owner_headers
    ).json()
    run_jobs()
    apns.pushes.clear()

    resp = _transfer(client, old["id"], buyer)
    assert resp.status_code == 201, resp.text
    new = resp.json()
    assert new["transferred_from"] == old["id"]
    assert new["attendee_email"] == "bola@example.com"
    assert "qr" not in new  # the sender does not get the new QR
    assert "code" not in new

    # The door: the old QR is revoked at once, online; the offline delta says so too.
    assert _scan(client, shop, old["qr"]) == "revoked"
    delta = client.get(
        f"/api/v1/events/{shop.event.id}/checkins/offline-bundle",
        params={"since": bundle["version"]},
        headers=shop.owner_headers,
    ).json()
    statuses = {p["id"]: p["status"] for p in delta["passes"]}
    assert statuses[old["id"]] == "revoked"
    assert statuses[new["id"]] == "valid"

    run_jobs()
    # The new holder's e-mail carries the ticket PDF (its QR is the new pass's) and the
    # Apple Wallet pass.
    [mail] = client.get("/dev/mailbox", params={"to": "bola@example.com"}).json()["items"]
    assert [a["content_type"] for a in mail["attachments"]] == [
        "application/pdf",
        "application/vnd.apple.pkpass",
    ]
    new_row = db.query(lambda s: s.get(Pass, new["id"]))
    assert new_row is not None
    assert new_row.code in mail["text"]
    order_now = client.get(f"/api/v1/orders/{order['id']}", headers=buyer).json()
    new_qr = next(p["qr"] for p in order_now["passes"] if p["id"] == new["id"])
    ticket = client.get(f"/api/v1/passes/{new['id']}/ticket.pdf", headers=buyer)
    assert pdf_qr_codes(ticket.content) == [new_qr]
    assert _scan(client, shop, new_qr) == "accepted"

    # The old pass's wallet copy was pushed (it now shows void).
    assert [p.path for p in apns.pushes] == [f"/3/device/{'ee' * 32}"]
    assert history(db, order["id"])[-1] == "pass_transferred"
    actions = db.query(
        lambda s: list(
            s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == old["id"]))
        )
    )
    assert actions == ["pass.transferred"]


def test_who_may_transfer_and_when(
    client: TestClient, db: Database, shop: Shop, buyer: dict[str, str], settings: Settings
) -> None:
    order = _order(client, shop, buyer)
    pid = order["passes"][0]["id"]
    with db.session() as s:
        stranger = auth_headers(s, settings, make_user(s))
        viewer = make_user(s)
        add_team_member(s, shop.org, viewer, "viewer")
        viewer_headers = auth_headers(s, settings, viewer)
    assert _transfer(client, pid, stranger).json()["code"] == "pass_not_found"
    assert _transfer(client, pid, viewer_headers).status_code == 403
    assert (
        client.post(
            f"/api/v1/passes/{pid}/transfer", json={"email": "x@example.com", "name": "X"}
        ).status_code
        == 401
    )
    assert _transfer(client, pid, buyer, email="not-an-email").status_code == 422
    assert (
        _transfer(client, pid, buyer, email="ada@example.com").json()["code"]
        == "transfer_to_same_holder"
    )

    with db.session() as s:  # transfers close a day before the event
        s.add(EventPassSettings(event_id=shop.event.id, transfer_cutoff_minutes=60 * 24 * 40))
    assert _transfer(client, pid, buyer).json()["code"] == "transfers_closed"
    with db.session() as s:
        rules = s.get(EventPassSettings, shop.event.id)
        assert rules is not None
        rules.transfer_cutoff_minutes = 60
    # The organizer (order.manage) may transfer too; the transferred pass cannot be again.
    assert _transfer(client, pid, shop.owner_headers).status_code == 201
    again = _transfer(client, pid, buyer, email="c@example.com")
    assert again.status_code == 409
    assert again.json()["code"] == "pass_not_transferable"


def test_a_tier_cutoff_overrides_the_events(
    client: TestClient, db: Database, shop: Shop, buyer: dict[str, str]
) -> None:
    pid = _order(client, shop, buyer)["passes"][0]["id"]
    url = f"/support/v1/events/{shop.event.id}/tiers/{shop.free.id}/transfer-cutoff"
    with db.session() as s:  # the event's rule leaves transfers open
        s.add(EventPassSettings(event_id=shop.event.id, transfer_cutoff_minutes=60))
    # The tier's passes close 40 days before the start: already past.
    resp = client.put(
        url, json={"transfer_cutoff_minutes": 60 * 24 * 40}, headers=shop.owner_headers
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["tier_transfer_cutoffs"] == {shop.free.id: 60 * 24 * 40}
    assert resp.json()["transfer_cutoff_minutes"] == 60
    refused = _transfer(client, pid, buyer)
    assert (refused.status_code, refused.json()["code"]) == (409, "transfers_closed")
    # A tier may also allow longer than its event: the event closed, the tier open.
    with db.session() as s:
        rules = s.get(EventPassSettings, shop.event.id)
        assert rules is not None
        rules.transfer_cutoff_minutes = 60 * 24 * 40
    assert client.put(url, json={"transfer_cutoff_minutes": 0}, headers=shop.owner_headers).json()[
        "tier_transfer_cutoffs"
    ] == {shop.free.id: 0}
    moved = _transfer(client, pid, buyer)
    assert moved.status_code == 201, moved.text
    with db.session() as s:
        audit = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "tier_pass_settings.updated")
        ).all()
        assert [(a.before, a.after) for a in audit] == [
            ({"transfer_cutoff_minutes": None}, {"transfer_cutoff_minutes": 60 * 24 * 40}),
            ({"transfer_cutoff_minutes": 60 * 24 * 40}, {"transfer_cutoff_minutes": 0}),
        ]
    # Back to the event's rule (null), which is closed now.
    back = client.put(url, json={"transfer_cutoff_minutes": None}, headers=shop.owner_headers)
    assert back.json()["tier_transfer_cutoffs"] == {}
    again = _transfer(client, moved.json()["id"], buyer, email="c@example.com")
    assert again.json()["code"] == "transfers_closed"
    # Bad input: a stable code, never a 500.
    bad = client.put(url, json={"transfer_cutoff_minutes": -5}, headers=shop.owner_headers)
    assert bad.status_code == 422
    with db.session() as s:
        other = make_tier(s, make_event(s, shop.org))
    wrong = client.put(
        f"/support/v1/events/{shop.event.id}/tiers/{other.id}/transfer-cutoff",
        json={"transfer_cutoff_minutes": 5},
        headers=shop.owner_headers,
    )
    assert (wrong.status_code, wrong.json()["code"]) == (404, "tier_not_found")


def test_a_pass_used_at_the_door_is_not_transferable(
    client: TestClient, shop: Shop, buyer: dict[str, str]
) -> None:
    order = _order(client, shop, buyer)
    p = order["passes"][0]
    assert _scan(client, shop, p["qr"]) == "accepted"
    assert _transfer(client, p["id"], buyer).json()["code"] == "pass_checked_in"


@pytest.mark.postgres
def test_two_concurrent_transfers_of_one_pass_one_wins(
    committed_db: Database, settings: Settings
) -> None:
    with committed_db.session() as s:
        owner = make_user(s)
        org = make_organization(s, owner)
        event = make_event(s, org)
        tier = make_tier(s, event)
        p = make_pass(s, event, tier, holder_user_id=owner.id)
        owner_id, pass_id = owner.id, p.id

    barrier = threading.Barrier(2)

    def attempt(i: int) -> str:
        barrier.wait()
        try:
            committed_db.mutation(
                transfer.transfer_pass,
                settings=settings,
                actor_user_id=owner_id,
                pass_id=pass_id,
                email=f"friend{i}@example.com",
                name=f"Friend {i}",
            )
        except PassNotTransferable:
            return "refused"
        return "won"

    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(attempt, range(2)))
    assert results == ["refused", "won"]
    rows = committed_db.query(
        lambda s: list(
            s.execute(select(Pass.status, Pass.attendee_email).order_by(Pass.created_at))
        )
    )
    assert [r[0] for r in rows] == ["revoked", "valid"]
