"""What a transfer writes and announces, read back field by field: the old pass revoked
(when, why), its successor in the same order and item for the new holder (their account
when their e-mail has one), the order history row, the audit entry (in the organization's
log), the e-mail job, the `pass.transferred` webhook event and the notification, and whom
the notification tells along a chain of transfers. Then the refusals at their edges: the
cut-off instant, an order not paid, a refund that gets there first, and check-ins of other
passes or undone ones (which do not block)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.access.models import AuditEntry
from admitone.checkout import transfer
from admitone.checkout.errors import PassNotTransferable, TransfersClosed
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.jobs import Job
from admitone.core.outbox import EMIT_JOB, NOTIFY_JOB
from admitone.orders.models import OrderHistory
from admitone.passes import service as passes
from admitone.passes.delivery.models import EventPassSettings
from admitone.passes.models import Pass
from admitone.settings import Settings
from admitone.users.models import User
from tests.factories import auth_headers, make_pass, make_user
from tests.orders.shop import Shop, open_shop, order_body, place


@pytest.fixture
def shop(db: Database, settings: Settings, client: TestClient) -> Shop:
    shop = open_shop(db, settings)
    hook = client.post(
        f"/api/v1/organizations/{shop.org.id}/webhooks",
        headers=shop.owner_headers,
        json={"url": "http://127.0.0.1:9/hooks", "events": ["pass.transferred"]},
    )
    assert hook.status_code == 201, hook.text
    return shop


def _account(db: Database, settings: Settings, email: str) -> tuple[User, dict[str, str]]:
    with db.session() as s:
        user = make_user(s, email=email)
        return user, auth_headers(s, settings, user)


def _order(client: TestClient, shop: Shop, headers: dict[str, str], n: int = 1) -> Any:
    body = order_body(shop) | {"items": [{"tier_id": shop.free.id, "quantity": n}]}
    resp = place(client, body, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _transfer(client: TestClient, pass_id: str, headers: dict[str, str], email: str) -> Any:
    return client.post(
        f"/api/v1/passes/{pass_id}/transfer",
        json={"email": email, "name": "Next Holder"},
        headers=headers,
    )


def _jobs(db: Database, name: str) -> list[Job]:
    return db.query(lambda s: list(s.scalars(select(Job).where(Job.name == name))))


def _notified(db: Database, pass_id: str) -> dict[str, Any]:
    """The audience of the `pass_transferred` notification about the new pass `pass_id`."""
    [job] = [
        j
        for j in _jobs(db, NOTIFY_JOB)
        if j.args["kind"] == "pass_transferred" and j.args["data"]["pass_id"] == pass_id
    ]
    return dict(job.args["audience"])


def test_a_transfer_writes_and_announces_exactly_what_happened(
    client: TestClient, db: Database, shop: Shop, settings: Settings
) -> None:
    ada, ada_headers = _account(db, settings, "ada.buyer@example.com")
    bola, _ = _account(db, settings, "bola@example.com")
    order = _order(client, shop, ada_headers)
    old = order["passes"][0]
    topics: list[set[str]] = []
    db.publisher = topics.append
    at = utcnow().replace(microsecond=0)

    with time_machine.travel(at, tick=False):  # the e-mail is typed in another case
        done = db.mutation(
            transfer.transfer_pass,
            settings=settings,
            actor_user_id=ada.id,
            pass_id=old["id"],
            email="Bola@Example.com",
            name="Bola Ade",
        )

    assert (done.old.id, done.old.status) == (old["id"], "revoked")
    revoked = db.query(lambda s: s.get(Pass, old["id"]))
    new = db.query(lambda s: s.get(Pass, done.new.id))
    assert revoked is not None
    assert new is not None
    assert (revoked.status, revoked.revoked_reason, revoked.code) == (
        "revoked",
        "transferred",
        old["code"],
    )
    assert revoked.revoked_at == revoked.updated_at == at
    # The successor: same order, item and tier; Bola's account holds it (matched whatever
    # the case of the address); a new code.
    assert (new.event_id, new.order_id, new.order_item_id, new.tier_id) == (
        revoked.event_id,
        revoked.order_id,
        revoked.order_item_id,
        revoked.tier_id,
    )
    assert (new.holder_user_id, new.attendee_name, new.attendee_email, new.status) == (
        bola.id,
        "Bola Ade",
        "Bola@Example.com",
        "valid",
    )
    assert new.code != old["code"]
    # The door's live view is nudged (its scanners re-read the passes).
    assert passes.checkins_topic(shop.event.id) in set().union(*topics)

    [row] = db.query(
        lambda s: list(
            s.scalars(
                select(OrderHistory).where(
                    OrderHistory.order_id == order["id"], OrderHistory.action == "pass_transferred"
                )
            )
        )
    )
    assert (row.from_status, row.to_status) == ("paid", "paid")
    assert row.data == {
        "from_pass_id": old["id"],
        "to_pass_id": new.id,
        "to_email": "Bola@Example.com",
        "by_user_id": ada.id,
    }

    # The audit entry, also in the organization's own audit log.
    [entry] = db.query(
        lambda s: list(s.scalars(select(AuditEntry).where(AuditEntry.action == "pass.transferred")))
    )
    assert (entry.actor_user_id, entry.target_type, entry.target_id) == (ada.id, "pass", old["id"])
    assert entry.before == {"pass_id": old["id"], "attendee_email": "ada@example.com"}
    assert entry.after == {
        "pass_id": new.id,
        "attendee_email": "Bola@Example.com",
        "attendee_name": "Bola Ade",
    }
    log = client.get(f"/api/v1/organizations/{shop.org.id}/audit", headers=shop.owner_headers)
    assert [e["target_id"] for e in log.json()["items"] if e["action"] == "pass.transferred"] == [
        old["id"]
    ]

    # The e-mail to the new holder: their name, the event and the new code.
    [mail] = [j for j in _jobs(db, "emails.send") if j.args["template"] == "pass_transferred"]
    assert mail.args == {
        "to": "Bola@Example.com",
        "template": "pass_transferred",
        "context": {
            "pass_id": new.id,
            "name": "Bola Ade",
            "event_title": shop.event.title,
            "code": new.code,
        },
    }

    # The webhook event: the new pass as an order shows it (its QR is the one the new
    # holder's order view shows), and whom it came from.
    [event] = [j.args for j in _jobs(db, EMIT_JOB) if j.args["type"] == "pass.transferred"]
    assert event["organization_id"] == shop.org.id
    shown = client.get(f"/api/v1/orders/{order['id']}", headers=ada_headers).json()
    new_qr = next(p["qr"] for p in shown["passes"] if p["id"] == new.id)
    assert event["data"] == {
        "id": new.id,
        "code": new.code,
        "qr": new_qr,
        "tier_id": shop.free.id,
        "attendee_name": "Bola Ade",
        "status": "valid",
        "previous_holder": {
            "pass_id": old["id"],
            "user_id": ada.id,
            "attendee_name": "Ada Obi",
            "attendee_email": "ada@example.com",
        },
    }

    # The notification: both holders' accounts and the new holder's address.
    [note] = [j.args for j in _jobs(db, NOTIFY_JOB) if j.args["kind"] == "pass_transferred"]
    assert note["audience"] == {
        "users": sorted([ada.id, bola.id]),
        "emails": ["bola@example.com"],
    }
    assert note["data"] == {
        "pass_id": new.id,
        "event_title": shop.event.title,
        "to_name": "Bola Ade",
    }


def test_who_is_told_along_a_chain_of_transfers(
    client: TestClient, db: Database, shop: Shop, settings: Settings
) -> None:
    ada, ada_headers = _account(db, settings, "ada.buyer@example.com")
    bola, bola_headers = _account(db, settings, "bola@example.com")
    first = _order(client, shop, ada_headers)["passes"][0]["id"]

    # Ada gives it to Carol, who has no account: the pass has no holder of its own.
    to_carol = _transfer(client, first, ada_headers, "carol@example.com")
    assert to_carol.status_code == 201, to_carol.text
    carols = to_carol.json()["id"]
    assert db.query(lambda s: s.get(Pass, carols).holder_user_id) is None
    assert _notified(db, carols) == {"users": [ada.id], "emails": ["carol@example.com"]}

    # So Ada, the buyer, may move it on; the buyer is told as the previous holder.
    to_bola = _transfer(client, carols, ada_headers, "bola@example.com")
    assert to_bola.status_code == 201, to_bola.text
    bolas = to_bola.json()["id"]
    assert _notified(db, bolas) == {
        "users": sorted([ada.id, bola.id]),
        "emails": ["bola@example.com"],
    }

    # Bola's account holds it now: Ada, the buyer, may no longer move it; Bola may.
    refused = _transfer(client, bolas, ada_headers, "dan@example.com")
    assert (refused.status_code, refused.json()["code"]) == (404, "pass_not_found")
    to_dan = _transfer(client, bolas, bola_headers, "dan@example.com")
    assert to_dan.status_code == 201, to_dan.text
    assert _notified(db, to_dan.json()["id"]) == {"users": [bola.id], "emails": ["dan@example.com"]}
    [event] = [
        j.args["data"]
        for j in _jobs(db, EMIT_JOB)
        if j.args["type"] == "pass.transferred" and j.args["data"]["id"] == to_dan.json()["id"]
    ]
    assert event["previous_holder"] == {
        "pass_id": bolas,
        "user_id": bola.id,
        "attendee_name": "Next Holder",
        "attendee_email": "bola@example.com",
    }


def test_a_blank_name_is_refused(client: TestClient, db: Database, settings: Settings) -> None:
    shop = open_shop(db, settings)
    _, headers = _account(db, settings, "ada.buyer@example.com")
    pid = _order(client, shop, headers)["passes"][0]["id"]
    resp = client.post(
        f"/api/v1/passes/{pid}/transfer",
        json={"email": "bola@example.com", "name": "   "},
        headers=headers,
    )
    assert resp.status_code == 422
    assert db.query(lambda s: s.get(Pass, pid).status) == "valid"


def _by_service(db: Database, settings: Settings, actor: str, pass_id: str) -> Any:
    return db.mutation(
        transfer.transfer_pass,
        settings=settings,
        actor_user_id=actor,
        pass_id=pass_id,
        email="bola@example.com",
        name="Bola Ade",
    )


def test_transfers_close_at_the_cutoff_instant(
    client: TestClient, db: Database, settings: Settings
) -> None:
    shop = open_shop(db, settings)
    ada, headers = _account(db, settings, "ada.buyer@example.com")
    first, second = (p["id"] for p in _order(client, shop, headers, n=2)["passes"])
    with db.session() as s:  # transfers close an hour before the start
        s.add(EventPassSettings(event_id=shop.event.id, transfer_cutoff_minutes=60))
    cutoff = shop.event.starts_at - timedelta(minutes=60)
    with time_machine.travel(cutoff, tick=False), pytest.raises(TransfersClosed):
        _by_service(db, settings, ada.id, first)
    with time_machine.travel(cutoff - timedelta(seconds=1), tick=False):
        assert _by_service(db, settings, ada.id, second).old.id == second


def test_a_pass_of_an_order_not_paid_is_not_transferable(db: Database, settings: Settings) -> None:
    """The app revokes an order's passes when it is refunded; this guard is the second line
    for a valid pass whose order is not paid (the state is made directly here)."""
    shop = open_shop(db, settings)
    with db.session() as s:
        owner = shop.owner.id
        pid = make_pass(s, shop.event, shop.free, order_overrides={"status": "refunded"}).id
    with pytest.raises(PassNotTransferable):
        _by_service(db, settings, owner, pid)
    assert db.query(lambda s: s.get(Pass, pid).status) == "valid"


def test_a_refund_that_revokes_the_pass_first_wins(
    client: TestClient, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refund revoking the pass between the transfer's read and its conditional update
    (as a concurrent one would, committed first): the update matches no row, the transfer
    is refused and no successor is issued."""
    shop = open_shop(db, settings)
    ada, headers = _account(db, settings, "ada.buyer@example.com")
    order = _order(client, shop, headers)
    pid = order["passes"][0]["id"]
    check_window = transfer._check_window

    def refund_first(session: Session, event_id: str, tier_id: str) -> Any:
        event = check_window(session, event_id, tier_id)
        passes.revoke_passes(session, order_id=order["id"], reason="refund")
        return event

    monkeypatch.setattr(transfer, "_check_window", refund_first)
    with pytest.raises(PassNotTransferable):
        _by_service(db, settings, ada.id, pid)
    statuses = db.query(
        lambda s: list(s.execute(select(Pass.status).where(Pass.order_id == order["id"])))
    )
    assert statuses == [("valid",)]  # the refund rolled back with the refused transfer


def test_other_passes_check_ins_and_undone_ones_do_not_block(
    client: TestClient, db: Database, settings: Settings
) -> None:
    shop = open_shop(db, settings)
    _, headers = _account(db, settings, "ada.buyer@example.com")
    first, second = _order(client, shop, headers, n=2)["passes"]
    url = f"/api/v1/events/{shop.event.id}/checkins"
    scanned = client.post(url, json={"code": first["qr"]}, headers=shop.owner_headers).json()
    assert scanned["result"] == "accepted"
    # The first is inside; the second (the friend's) may still be given away.
    assert _transfer(client, second["id"], headers, "bola@example.com").status_code == 201
    assert _transfer(client, first["id"], headers, "carol@example.com").json()["code"] == (
        "pass_checked_in"
    )
    undo = client.post(f"{url}/{scanned['check_in_id']}/undo", headers=shop.owner_headers)
    assert undo.status_code == 200, undo.text
    assert _transfer(client, first["id"], headers, "carol@example.com").status_code == 201
