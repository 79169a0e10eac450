"""After placing: reading, cancelling, expiry, refunds, lists, export, event cancellation,
and the inventory recount."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select, update

from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.events.models import TicketTier
from admitone.orders.models import InventoryDrift
from admitone.passes.models import Pass
from admitone.payments.models import Refund
from admitone.settings import Settings
from tests.factories import add_team_member, auth_headers, make_addon, make_user
from tests.orders.shop import history, open_shop, order_body, place, tier_counts


@pytest.fixture
def shop(db: Database, settings: Settings):  # type: ignore[no-untyped-def]
    return open_shop(db, settings)


def _staff(db, settings, shop, role):  # type: ignore[no-untyped-def]
    with db.session() as s:
        user = make_user(s)
        add_team_member(s, shop.org, user, role)
        return auth_headers(s, settings, user)


def _pay(client, order):  # type: ignore[no-untyped-def]
    resp = client.post(f"/support/v1/payments/dev/{order['payment']['reference']}/approve")
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_order_is_readable_by_buyer_token_and_organizer_only(client, db, settings, shop) -> None:
    order = place(client, order_body(shop)).json()
    url = f"/api/v1/orders/{order['id']}"
    assert client.get(url).status_code == 404
    assert client.get(url, params={"token": "wrong"}).json()["code"] == "order_not_found"
    by_token = client.get(url, params={"token": order["order_token"]})
    assert by_token.status_code == 200
    assert "order_token" not in by_token.json()
    assert client.get(url, headers={"X-Order-Token": order["order_token"]}).status_code == 200
    assert client.get(url, headers=shop.owner_headers).status_code == 200
    assert client.get(url, headers=_staff(db, settings, shop, "viewer")).status_code == 200
    door = client.get(url, headers=_staff(db, settings, shop, "door_staff"))
    assert door.status_code == 403
    assert door.json()["code"] == "capability_required"
    with db.session() as s:
        stranger = auth_headers(s, settings, make_user(s))
    assert client.get(url, headers=stranger).status_code == 404
    assert client.get("/api/v1/orders/ord_bad").status_code == 422


def test_signed_in_buyer_sees_orders_in_me_orders(client, db, settings, shop) -> None:
    with db.session() as s:
        buyer = make_user(s)
        headers = auth_headers(s, settings, buyer)
    ids = [
        place(client, order_body(shop) | {"buyer": None}, headers=headers).json()["id"]
        for _ in range(3)
    ]
    page = client.get("/api/v1/me/orders", params={"limit": 2}, headers=headers).json()
    assert [o["id"] for o in page["items"]] == ids[::-1][:2]
    rest = client.get(
        "/api/v1/me/orders", params={"limit": 2, "cursor": page["next_cursor"]}, headers=headers
    ).json()
    assert [o["id"] for o in rest["items"]] == ids[:1]
    assert rest["next_cursor"] is None
    assert client.get(f"/api/v1/orders/{ids[0]}", headers=headers).status_code == 200
    assert client.get("/api/v1/me/orders").status_code == 401
    bad = client.get("/api/v1/me/orders", params={"cursor": "!!"}, headers=headers)
    assert bad.json()["code"] == "invalid_cursor"


def test_cancel_releases_held_seats_and_is_idempotent(client, db, shop) -> None:
    order = place(client, order_body(shop, 3)).json()
    assert tier_counts(db, shop.tier.id) == (3, 0)
    url = f"/api/v1/orders/{order['id']}/cancel"
    assert client.post(url).status_code == 404
    first = client.post(url, params={"token": order["order_token"]})
    assert first.status_code == 200
    assert first.json()["status"] == "cancelled"
    assert client.post(url, params={"token": order["order_token"]}).status_code == 200
    assert tier_counts(db, shop.tier.id) == (0, 0)
    assert history(db, order["id"]) == ["orders.placed", "orders.cancelled"]


def test_an_organizer_cancelling_shows_in_the_organizations_audit_log(client, db, shop) -> None:
    order = place(client, order_body(shop)).json()
    resp = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=shop.owner_headers)
    assert resp.status_code == 200
    log = client.get(
        f"/api/v1/organizations/{shop.org.id}/audit", headers=shop.owner_headers
    ).json()["items"]
    entries = [e for e in log if e["action"] == "order.cancelled"]
    assert [(e["target_type"], e["target_id"]) for e in entries] == [("order", order["id"])]
    assert entries[0]["actor_user_id"] == shop.owner.id


def test_paid_order_cannot_be_cancelled(client, db, shop) -> None:
    order = place(client, order_body(shop)).json()
    _pay(client, order)
    resp = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=shop.owner_headers)
    assert resp.status_code == 409
    assert resp.json()["code"] == "order_not_cancellable"


def test_expiry_cron_releases_stock_of_unpaid_orders(client, db, shop, run_jobs) -> None:
    order = place(client, order_body(shop, 2)).json()
    run_jobs()
    with db.session() as s:
        from admitone.core import jobs

        jobs.schedule(s, "orders.expire", {"trigger": "test"})
    run_jobs()
    assert tier_counts(db, shop.tier.id) == (2, 0)  # not yet due
    with time_machine.travel(utcnow() + timedelta(minutes=16), tick=False):
        with db.session() as s:
            from admitone.core import jobs

            jobs.schedule(s, "orders.expire", {"trigger": "test"})
        run_jobs()
    assert tier_counts(db, shop.tier.id) == (0, 0)
    got = client.get(f"/api/v1/orders/{order['id']}", params={"token": order["order_token"]})
    assert got.json()["status"] == "expired"
    assert got.json()["expires_at"] is None
    assert history(db, order["id"]) == ["orders.placed", "orders.expired"]


def test_full_refund_revokes_passes_releases_seats_and_refunds_the_payment(
    client, db, settings, shop, run_jobs
) -> None:
    order = place(client, order_body(shop, 2)).json()
    assert _pay(client, order)["outcome"] == "paid"
    assert tier_counts(db, shop.tier.id) == (0, 2)
    url = f"/api/v1/orders/{order['id']}/refunds"
    assert client.post(url, json={}).status_code == 401
    denied = client.post(url, json={}, headers=_staff(db, settings, shop, "manager"))
    assert denied.status_code == 403
    assert denied.json()["capability"] == "order.refund"
    resp = client.post(
        url, json={"reason": "requested"}, headers=_staff(db, settings, shop, "finance")
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["amount"] == {"amount": 1_000_000, "currency": "NGN"}
    assert body["order"]["status"] == "refunded"
    assert len(body["revoked_pass_ids"]) == 2
    assert {p["status"] for p in body["order"]["passes"]} == {"revoked"}
    assert body["refund"]["status"] == "pending"
    assert tier_counts(db, shop.tier.id) == (0, 0)
    run_jobs()
    refund = db.query(lambda s: s.scalars(select(Refund)).one())
    assert refund.status == "succeeded"
    assert refund.provider_refund_id
    again = client.post(url, json={}, headers=shop.owner_headers)
    assert again.status_code == 409
    assert again.json()["code"] == "order_not_refundable"


def test_partial_refund_per_item_including_addons(client, db, shop, run_jobs) -> None:
    with db.session() as s:
        parking = make_addon(s, shop.event)
    body = order_body(shop, 3) | {"addons": [{"addon_id": parking.id, "quantity": 2}]}
    order = place(client, body).json()
    _pay(client, order)
    ticket, addon = order["items"]
    url = f"/api/v1/orders/{order['id']}/refunds"
    lines = {
        "items": [
            {"order_item_id": ticket["id"], "quantity": 1},
            {"order_item_id": addon["id"], "quantity": 2},
        ]
    }
    resp = client.post(url, json=lines, headers=shop.owner_headers)
    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert out["amount"]["amount"] == 500000 + 2 * 100000
    assert out["order"]["status"] == "partially_refunded"
    assert out["order"]["refunded"]["amount"] == 700000
    assert [p["status"] for p in out["order"]["passes"]].count("valid") == 2
    assert tier_counts(db, shop.tier.id) == (0, 2)
    too_many = client.post(
        url,
        json={"items": [{"order_item_id": ticket["id"], "quantity": 3}]},
        headers=shop.owner_headers,
    )
    assert too_many.status_code == 422
    assert too_many.json()["code"] == "refund_exceeds_quantity"
    unknown = client.post(
        url,
        json={"items": [{"order_item_id": "oit_" + "0" * 26, "quantity": 1}]},
        headers=shop.owner_headers,
    )
    assert unknown.json()["code"] == "unknown_order_item"
    rest = client.post(url, json={}, headers=shop.owner_headers)
    assert rest.json()["order"]["status"] == "refunded"
    assert rest.json()["amount"]["amount"] == 2 * 500000


def test_refund_with_idempotency_key_happens_once(client, db, shop) -> None:
    order = place(client, order_body(shop, 2)).json()
    _pay(client, order)
    item = order["items"][0]["id"]
    url = f"/api/v1/orders/{order['id']}/refunds"
    body = {"items": [{"order_item_id": item, "quantity": 1}]}
    headers = shop.owner_headers | {"Idempotency-Key": "refund-1"}
    first = client.post(url, json=body, headers=headers)
    second = client.post(url, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert db.query(lambda s: len(s.scalars(select(Refund)).all())) == 1
    assert tier_counts(db, shop.tier.id) == (0, 1)


def test_pending_order_is_not_refundable(client, shop) -> None:
    order = place(client, order_body(shop)).json()
    resp = client.post(f"/api/v1/orders/{order['id']}/refunds", json={}, headers=shop.owner_headers)
    assert resp.status_code == 409
    assert resp.json()["code"] == "order_not_refundable"


def test_organizer_lists_searches_and_exports_orders(client, db, settings, shop) -> None:
    with db.session() as s:
        parking = make_addon(s, shop.event)
    a = place(client, order_body(shop) | {"buyer": {"email": "ada@example.com", "name": "Ada"}})
    b = place(
        client,
        order_body(shop, 2)
        | {
            "buyer": {"email": "bola@example.com", "name": '=HYPERLINK("x")'},
            "addons": [{"addon_id": parking.id, "quantity": 1}],
        },
    )
    assert a.status_code == b.status_code == 201
    url = f"/api/v1/events/{shop.event.id}/orders"
    listed = client.get(url, headers=shop.owner_headers).json()
    assert [o["id"] for o in listed["items"]] == [b.json()["id"], a.json()["id"]]
    found = client.get(url, params={"q": "BOLA"}, headers=shop.owner_headers).json()
    assert [o["id"] for o in found["items"]] == [b.json()["id"]]
    assert (
        client.get(url, params={"status": "paid"}, headers=shop.owner_headers).json()["items"] == []
    )
    assert (
        client.get(url, params={"status": "bogus"}, headers=shop.owner_headers).status_code == 422
    )
    with db.session() as s:
        stranger = auth_headers(s, settings, make_user(s))
    assert client.get(url, headers=stranger).status_code == 404

    export = client.get(f"{url}.csv", headers=shop.owner_headers)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["buyer_email"], r["kind"], r["quantity"]) for r in rows] == [
        ("ada@example.com", "ticket", "1"),
        ("bola@example.com", "ticket", "2"),
        ("bola@example.com", "addon", "1"),
    ]
    assert rows[1]["buyer_name"].startswith("'=")
    viewer = _staff(db, settings, shop, "viewer")
    assert client.get(f"{url}.csv", headers=viewer).json()["code"] == "capability_required"


def test_event_cancellation_cancels_pending_and_refunds_paid_orders(
    client, db, shop, run_jobs
) -> None:
    pending = place(client, order_body(shop, 1)).json()
    paid = place(client, order_body(shop, 2) | {"buyer": {"email": "p@example.com"}}).json()
    _pay(client, paid)
    resp = client.post(f"/api/v1/events/{shop.event.id}/cancel", headers=shop.owner_headers)
    assert resp.status_code == 200, resp.text
    run_jobs()
    token = {"X-Order-Token": pending["order_token"]}
    assert client.get(f"/api/v1/orders/{pending['id']}", headers=token).json()["status"] == (
        "cancelled"
    )
    after = client.get(f"/api/v1/orders/{paid['id']}", headers=shop.owner_headers).json()
    assert after["status"] == "refunded"
    assert after["refunds"][0]["status"] == "succeeded"
    assert after["refunds"][0]["amount"]["amount"] == 1_000_000
    assert tier_counts(db, shop.tier.id) == (0, 0)
    assert db.query(lambda s: {p.status for p in s.scalars(select(Pass))}) == {"revoked"}


def test_inventory_recount_reports_drift(client, db, shop, run_jobs) -> None:
    place(client, order_body(shop, 2))
    url = f"/api/v1/events/{shop.event.id}/inventory/drift"
    assert client.get(url, headers=shop.owner_headers).json() == []
    with db.session() as s:  # a counter bumped outside the order path
        s.execute(update(TicketTier).where(TicketTier.id == shop.tier.id).values(sold_count=3))
    drift = client.get(url, headers=shop.owner_headers).json()
    assert drift == [
        {
            "event_id": shop.event.id,
            "kind": "tier",
            "row_id": shop.tier.id,
            "held_counter": 2,
            "held_rows": 2,
            "sold_counter": 3,
            "sold_rows": 0,
        }
    ]
    with db.session() as s:
        from admitone.core import jobs

        jobs.schedule(s, "orders.reconcile_inventory", {"trigger": "test"})
    run_jobs()
    rows = db.query(lambda s: s.scalars(select(InventoryDrift)).all())
    assert [(r.tier_id, r.sold_counter, r.sold_rows) for r in rows] == [(shop.tier.id, 3, 0)]
