"""The producers: each order, pass and check-in transition schedules its webhook event, and
each cause of a notification its notification job, in the mutation's own transaction: the
jobs exist once it commits and not at all after a rollback. End to end: an order placed and
paid through the API reaches a real receiver signed (checked by the independent verifier)
and the buyer's inbox; a cancelled event reaches its holders."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.checkins.service import scanning
from admitone.checkins.service.model import ScanInput
from admitone.checkout import placing, transfer
from admitone.checkout.refunds import refund_in_session
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.jobs import Job
from admitone.core.outbox import EMIT_JOB, NOTIFY_JOB
from admitone.events.schemas import EventUpdate
from admitone.events.service import lifecycle
from admitone.orders import service as orders
from admitone.orders.schemas import OrderIn, RefundIn
from admitone.orgs.service import team
from admitone.settings import Settings
from tests.factories import auth_headers, make_user
from tests.orders.shop import Shop, open_shop, order_body, place
from tests.webhooks.conftest import Receiver, verify_standard_webhook


@dataclass
class World:
    shop: Shop
    buyer_id: str
    buyer_headers: dict[str, str]
    pending: dict[str, Any]  # a pending order placed by the signed-in buyer
    free: dict[str, Any]  # a free order, paid at once, with one pass


def _endpoint(client: TestClient, shop: Shop, url: str, events: list[str]) -> dict[str, Any]:
    r = client.post(
        f"/api/v1/organizations/{shop.org.id}/webhooks",
        headers=shop.owner_headers,
        json={"url": url, "events": events},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture
def world(db: Database, settings: Settings, client: TestClient) -> World:
    shop = open_shop(db, settings)
    _endpoint(client, shop, "http://127.0.0.1:9/hooks", ["*"])
    with db.session() as s:
        buyer = make_user(s)
        headers = auth_headers(s, settings, buyer)
    pending = place(client, order_body(shop), headers=headers)
    free_body = order_body(shop) | {"items": [{"tier_id": shop.free.id, "quantity": 1}]}
    free = place(client, free_body, headers=headers)
    assert pending.status_code == free.status_code == 201
    return World(shop, buyer.id, headers, pending.json(), free.json())


def _jobs(db: Database, name: str, key: str) -> list[str]:
    return db.query(lambda s: [j.args[key] for j in s.scalars(select(Job).where(Job.name == name))])


def _scheduled(db: Database) -> tuple[list[str], list[str]]:
    return _jobs(db, EMIT_JOB, "type"), _jobs(db, NOTIFY_JOB, "kind")


Act = Callable[[Session], Any]


def _place(w: World, settings: Settings) -> Act:
    body = OrderIn.model_validate(order_body(w.shop))
    return lambda s: placing._place(s, settings, body, None, "dev", None)


def _paid(w: World, settings: Settings) -> Act:
    oid = w.pending["id"]
    return lambda s: orders.confirm_payment(s, settings, oid, reference="ref")


def _cancelled(w: World, settings: Settings) -> Act:
    oid = w.pending["id"]
    return lambda s: orders.cancel_order(s, settings, oid, actor_user_id=None, reason="test")


def _expired(w: World, settings: Settings) -> Act:
    def act(s: Session) -> Any:
        with time_machine.travel(utcnow() + timedelta(hours=1), tick=False):
            assert orders.expire_order(s, settings, w.pending["id"])

    return act


def _refunded(w: World, settings: Settings) -> Act:
    oid, owner = w.free["id"], w.shop.owner.id
    return lambda s: refund_in_session(s, settings, oid, owner, RefundIn())


def _transferred(w: World, settings: Settings) -> Act:
    pid = w.free["passes"][0]["id"]
    return lambda s: transfer.transfer_pass(
        s,
        settings=settings,
        actor_user_id=w.buyer_id,
        pass_id=pid,
        email="bola@example.com",
        name="Bola Ade",
    )


def _scan(code: Callable[[World], str]) -> Callable[[World, Settings], Act]:
    def make(w: World, settings: Settings) -> Act:
        found = ScanInput(code=code(w))
        return lambda s: scanning.scan(s, settings.secret, w.shop.owner.id, w.shop.event.id, found)

    return make


def _invited(w: World, settings: Settings) -> Act:
    return lambda s: team.invite_member(
        s,
        w.shop.owner.id,
        w.shop.org.id,
        email="new@example.com",
        role="manager",
        event_ids=None,
        settings=settings,
    )


def _event_changed(w: World, settings: Settings) -> Act:
    body = EventUpdate.model_validate({"venue": {"name": "The New Hall"}})
    return lambda s: lifecycle.update_event(s, w.shop.owner.id, w.shop.event.id, body)


def _event_cancelled(w: World, settings: Settings) -> Act:
    return lambda s: lifecycle.cancel_event(s, w.shop.owner.id, w.shop.event.id)


PRODUCERS: dict[str, tuple[Callable[[World, Settings], Act], set[str], set[str]]] = {
    "order placed": (_place, {"order.placed"}, {"order_placed"}),
    "order paid": (_paid, {"order.paid", "pass.issued"}, {"order_paid"}),
    "order cancelled": (_cancelled, {"order.cancelled"}, set()),
    "order expired": (_expired, {"order.expired"}, set()),
    "order refunded": (_refunded, {"order.refunded", "pass.revoked"}, {"order_refunded"}),
    "pass transferred": (_transferred, {"pass.transferred"}, {"pass_transferred"}),
    "checkin accepted": (_scan(lambda w: w.free["passes"][0]["code"]), {"checkin.accepted"}, set()),
    "checkin refused": (_scan(lambda w: "NOPE-NOPE"), {"checkin.refused"}, set()),
    "invitation": (_invited, set(), {"invitation"}),
    "event changed": (_event_changed, set(), {"event_changed"}),
    "event cancelled": (_event_cancelled, set(), {"event_cancelled"}),
}


@pytest.mark.parametrize("producer", PRODUCERS)
def test_producer_schedules_its_jobs_on_commit_and_none_on_rollback(
    db: Database, settings: Settings, world: World, producer: str
) -> None:
    make, types, kinds = PRODUCERS[producer]
    act = make(world, settings)
    before_types, before_kinds = _scheduled(db)

    def rolled_back(s: Session) -> None:
        act(s)
        raise RuntimeError("the mutation failed after the producer ran")

    with pytest.raises(RuntimeError):
        db.mutation(rolled_back)
    types_now, kinds_now = _scheduled(db)
    assert (Counter(types_now), Counter(kinds_now)) == (
        Counter(before_types),
        Counter(before_kinds),
    )

    db.mutation(act)
    after_types, after_kinds = _scheduled(db)
    assert set(Counter(after_types) - Counter(before_types)) == types
    assert set(Counter(after_kinds) - Counter(before_kinds)) == kinds


def test_order_events_carry_the_order_as_the_api_renders_it(
    db: Database, client: TestClient, world: World
) -> None:
    placed = db.query(
        lambda s: [
            j.args
            for j in s.scalars(select(Job).where(Job.name == EMIT_JOB).order_by(Job.created_at))
        ]
    )
    order = next(a for a in placed if a["data"]["id"] == world.pending["id"])
    assert order["type"] == "order.placed"
    assert order["organization_id"] == world.shop.org.id
    as_read = client.get(
        f"/api/v1/orders/{world.pending['id']}", headers=world.shop.owner_headers
    ).json()
    assert "order_token" not in order["data"]  # the buyer's credential stays with the buyer
    # As it was when placed: the provider's checkout URL is asked for after that commit.
    assert order["data"]["payment"]["checkout_url"] is None
    assert order["data"] == {**as_read, "payment": {**as_read["payment"], "checkout_url": None}}


def test_no_subscribed_endpoint_emits_nothing(
    db: Database, settings: Settings, client: TestClient
) -> None:
    shop = open_shop(db, settings)
    _endpoint(client, shop, "http://127.0.0.1:9/hooks", ["order.refunded"])
    assert place(client, order_body(shop)).status_code == 201
    types, kinds = _scheduled(db)
    assert types == []  # order.placed is wanted by no endpoint of this organization
    assert kinds == ["order_placed"]  # the team's notification does not depend on webhooks


def test_order_placed_and_paid_reach_the_receiver_signed_and_the_buyers_inbox(
    db: Database,
    settings: Settings,
    client: TestClient,
    receiver: Receiver,
    run_jobs: Callable[[], int],
) -> None:
    shop = open_shop(db, settings)
    made = _endpoint(client, shop, receiver.url, ["order.placed", "order.paid"])
    with db.session() as s:
        headers = auth_headers(s, settings, make_user(s))
    order = place(client, order_body(shop), headers=headers).json()
    paid = client.post(f"/support/v1/payments/dev/{order['payment']['reference']}/approve")
    assert paid.status_code == 200, paid.text
    run_jobs()
    bodies = []
    now = int(utcnow().timestamp())
    for got in receiver.received:
        verify_standard_webhook(made["secret"], got.headers, got.body, now=now)
        bodies.append(json.loads(got.body))
    by_type = {b["type"]: b for b in bodies}  # webhooks promise no order between events
    assert len(bodies) == len(by_type) == 2
    assert (by_type["order.placed"]["data"]["id"], by_type["order.placed"]["data"]["status"]) == (
        order["id"],
        "pending",
    )
    assert (by_type["order.paid"]["data"]["id"], by_type["order.paid"]["data"]["status"]) == (
        order["id"],
        "paid",
    )
    assert len(by_type["order.paid"]["data"]["passes"]) == 1
    inbox = client.get("/api/v1/me/notifications", headers=headers).json()["items"]
    assert [(n["kind"], n["data"]["order_id"]) for n in inbox] == [("order_paid", order["id"])]
    team = client.get("/api/v1/me/notifications", headers=shop.owner_headers).json()["items"]
    assert [n["kind"] for n in team] == ["order_placed"]


def test_cancelled_event_notifies_its_holders(
    db: Database, settings: Settings, client: TestClient, run_jobs: Callable[[], int]
) -> None:
    shop = open_shop(db, settings)
    with db.session() as s:
        holder = make_user(s)
        headers = auth_headers(s, settings, holder)
    free_body = order_body(shop) | {"items": [{"tier_id": shop.free.id, "quantity": 1}]}
    assert place(client, free_body, headers=headers).status_code == 201
    r = client.post(f"/api/v1/events/{shop.event.id}/cancel", headers=shop.owner_headers)
    assert r.status_code == 200, r.text
    run_jobs()  # the refunds revoke the passes; the holders are still told
    inbox = client.get("/api/v1/me/notifications", headers=headers).json()["items"]
    assert "event_cancelled" in [n["kind"] for n in inbox]
