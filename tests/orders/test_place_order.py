"""Placing orders: reservation, free and paid orders, every refusal, idempotency, add-ons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from admitone.core import idempotency
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.jobs import Job
from admitone.events.models import TicketTier
from admitone.events.service import hash_access_code
from admitone.settings import Settings
from tests.factories import auth_headers, make_addon, make_tier, make_user
from tests.orders.shop import history, open_shop, order_body, order_count, place, tier_counts


@pytest.fixture
def shop(db: Database, settings: Settings):  # type: ignore[no-untyped-def]
    return open_shop(db, settings)


def test_paid_order_is_pending_with_payment_and_holds_seats(client, db, shop) -> None:
    resp = place(client, order_body(shop, 2))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "pending"
    assert body["total"] == {"amount": 1_000_000, "currency": "NGN"}
    assert body["expires_at"] is not None
    assert body["payment"]["provider"] == "dev"
    assert body["payment"]["checkout_url"].endswith(
        f"/support/v1/payments/dev/{body['payment']['reference']}"
    )
    assert body["passes"] == []
    assert body["order_token"]
    assert resp.headers["location"] == f"/api/v1/orders/{body['id']}"
    assert tier_counts(db, shop.tier.id) == (2, 0)
    assert history(db, body["id"]) == ["orders.placed"]


def test_free_order_is_paid_at_once_with_passes_and_a_confirmation(
    client, db, shop, run_jobs
) -> None:
    body = order_body(shop)
    body["items"] = [{"tier_id": shop.free.id, "quantity": 2}]
    body["attendees"] = [{"name": "Ada Obi"}, {"name": "Chidi Eze", "email": "c@example.com"}]
    resp = place(client, body)
    assert resp.status_code == 201, resp.text
    order = resp.json()
    assert order["status"] == "paid"
    assert order["payment"] is None
    assert sorted(p["attendee_name"] for p in order["passes"]) == ["Ada Obi", "Chidi Eze"]
    assert all(p["code"] and p["qr"] for p in order["passes"])
    assert tier_counts(db, shop.free.id) == (0, 2)
    assert history(db, order["id"]) == ["orders.placed", "orders.paid"]
    run_jobs()
    mail = client.get("/dev/mailbox", params={"to": "ada@example.com"}).json()["items"]
    assert len(mail) == 1
    assert "Your tickets for Test Event" in mail[0]["subject"]
    assert order["passes"][0]["code"] in mail[0]["text"]
    assert f"http://testserver/orders/{order['id']}?token=" in mail[0]["text"]


def test_sold_out_tier_rejects_order_and_writes_nothing(client, db, shop) -> None:
    assert place(client, order_body(shop, 6)).status_code == 201
    assert (
        place(client, order_body(shop, 4) | {"buyer": {"email": "b@example.com"}}).status_code
        == 201
    )
    before = order_count(db)
    resp = place(client, order_body(shop, 1) | {"buyer": {"email": "c@example.com"}})
    assert resp.status_code == 409
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] == "tier_sold_out"
    assert resp.json()["available"] == 0
    assert order_count(db) == before
    assert tier_counts(db, shop.tier.id) == (10, 0)


def test_sales_window_is_enforced(client, db, shop) -> None:
    with db.session() as s:
        early = make_tier(s, shop.event, sales_start_at=utcnow() + timedelta(days=1))
        late = make_tier(
            s,
            shop.event,
            sales_end_at=utcnow() - timedelta(minutes=1),
            sales_start_at=utcnow() - timedelta(days=1),
        )
    for tier in (early, late):
        body = order_body(shop) | {"items": [{"tier_id": tier.id, "quantity": 1}]}
        resp = place(client, body)
        assert resp.status_code == 409
        assert resp.json()["code"] == "sales_closed"


def test_paused_tier_refuses(client, db, shop) -> None:
    with db.session() as s:
        paused = make_tier(s, shop.event, is_paused=True)
    resp = place(client, order_body(shop) | {"items": [{"tier_id": paused.id, "quantity": 1}]})
    assert resp.json()["code"] == "sales_paused"


def test_hidden_tier_needs_its_access_code(client, db, shop, settings) -> None:
    with db.session() as s:
        hidden = make_tier(
            s,
            shop.event,
            is_hidden=True,
            access_code_hash=hash_access_code(settings.secret, "VIP1"),
        )
    body = order_body(shop) | {"items": [{"tier_id": hidden.id, "quantity": 1}]}
    assert place(client, body).json()["code"] == "tier_not_found"
    assert place(client, body | {"access_code": "nope"}).json()["code"] == "invalid_access_code"
    assert place(client, body | {"access_code": "vip1"}).status_code == 201


def test_event_not_published_is_not_on_sale(client, db, shop) -> None:
    with db.session() as s:
        s.get(type(shop.event), shop.event.id).status = "draft"  # type: ignore[union-attr]
    resp = place(client, order_body(shop))
    assert resp.status_code == 409
    assert resp.json()["code"] == "event_not_on_sale"


def test_per_order_limits(client, db, shop) -> None:
    with db.session() as s:
        group = make_tier(s, shop.event, min_per_order=2, max_per_order=4)
    body = order_body(shop)
    for qty in (1, 5):
        body["items"] = [{"tier_id": group.id, "quantity": qty}]
        resp = place(client, body)
        assert resp.status_code == 422
        assert resp.json()["code"] == "limit_exceeded"
        assert resp.json()["max_per_order"] == 4
    body["items"] = [{"tier_id": group.id, "quantity": 1}, {"tier_id": group.id, "quantity": 2}]
    assert place(client, body).status_code == 201  # lines of one tier are added up


def test_per_buyer_limit_counts_earlier_orders(client, db, shop, settings) -> None:
    with db.session() as s:
        buyer = make_user(s)
        headers = auth_headers(s, settings, buyer)
    body = order_body(shop, 4)
    del body["buyer"]
    assert place(client, body, headers=headers).status_code == 201
    resp = place(client, order_body(shop, 3) | {"buyer": None}, headers=headers)
    assert resp.status_code == 422
    assert resp.json()["code"] == "limit_exceeded"
    assert resp.json()["max_per_buyer"] == 6
    assert place(client, order_body(shop, 2) | {"buyer": None}, headers=headers).status_code == 201
    # Anonymous buyers are counted by e-mail, case-insensitively.
    assert (
        place(client, order_body(shop, 6) | {"buyer": {"email": "X@example.com"}}).status_code
        == 409
    )


def test_cancelled_order_gives_the_buyer_allowance_back(client, db, shop) -> None:
    first = place(client, order_body(shop, 6)).json()
    assert place(client, order_body(shop, 1)).json()["code"] == "limit_exceeded"
    cancel = client.post(
        f"/api/v1/orders/{first['id']}/cancel", headers={"X-Order-Token": first["order_token"]}
    )
    assert cancel.status_code == 200, cancel.text
    assert place(client, order_body(shop, 1)).status_code == 201


def test_bad_inputs_are_problems_not_500s(client, db, shop) -> None:
    cases = [
        ({"event_id": "evt_nope", "items": []}, 422, "validation_error"),
        (order_body(shop) | {"event_id": shop.tier.id}, 422, "validation_error"),
        (
            order_body(shop) | {"items": [{"tier_id": shop.tier.id, "quantity": 0}]},
            422,
            "validation_error",
        ),
        (
            order_body(shop) | {"items": [{"tier_id": shop.event.id, "quantity": 1}]},
            422,
            "validation_error",
        ),
        (order_body(shop) | {"buyer": {"email": "not-an-email"}}, 422, "validation_error"),
        (order_body(shop) | {"surprise": 1}, 422, "validation_error"),
        (order_body(shop) | {"buyer": None}, 422, "buyer_email_required"),
        (
            order_body(shop) | {"attendees": [{"name": "A"}, {"name": "B"}]},
            422,
            "attendees_mismatch",
        ),
        (
            order_body(shop) | {"items": [{"tier_id": "tir_" + "0" * 26, "quantity": 1}]},
            404,
            "tier_not_found",
        ),
        (order_body(shop) | {"event_id": "evt_" + "0" * 26}, 404, "event_not_found"),
        (order_body(shop) | {"provider": "stripe"}, 422, "payment_provider_unavailable"),
    ]
    for body, status, code in cases:
        resp = place(client, body)
        assert resp.status_code == status, (body, resp.text)
        assert resp.json()["code"] == code
    bad_json = client.post(
        "/api/v1/orders", content=b"{", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400
    assert order_count(db) == 0


def test_tier_of_another_event_is_not_found(client, db, shop, settings) -> None:
    other = open_shop(db, settings)
    resp = place(client, order_body(shop) | {"items": [{"tier_id": other.tier.id, "quantity": 1}]})
    assert resp.status_code == 404
    assert resp.json()["code"] == "tier_not_found"


def test_idempotency_key_replays_the_first_response(client, db, shop) -> None:
    headers = {"Idempotency-Key": "k-1"}
    first = place(client, order_body(shop, 2), headers=headers)
    again = place(client, order_body(shop, 2), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.json()["payment"]["checkout_url"]
    assert order_count(db) == 1
    other = place(client, order_body(shop, 3), headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


def test_idempotency_key_in_progress_is_409(client, db, shop) -> None:
    body = order_body(shop, 1)
    from admitone.orders.schemas import OrderIn

    idempotency.begin(
        db,
        scope="orders.place:anonymous:ada@example.com",
        key="busy",
        body_hash=idempotency.request_hash(OrderIn.model_validate(body).model_dump(mode="json")),
    )
    resp = place(client, body, headers={"Idempotency-Key": "busy"})
    assert resp.status_code == 409
    assert resp.json()["code"] == "idempotency_in_progress"
    assert order_count(db) == 0


def test_refused_order_releases_its_idempotency_key(client, db, shop) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    with db.session() as s:
        s.get(TicketTier, shop.tier.id).is_paused = True  # type: ignore[union-attr]
    assert place(client, order_body(shop), headers=headers).json()["code"] == "sales_paused"
    with db.session() as s:
        s.get(TicketTier, shop.tier.id).is_paused = False  # type: ignore[union-attr]
    assert place(client, order_body(shop), headers=headers).status_code == 201


def test_addons_are_priced_into_the_total_and_hold_their_stock(client, db, shop) -> None:
    with db.session() as s:
        parking = make_addon(s, shop.event, max_per_order=1)
        meal = make_addon(
            s, shop.event, name="Meal", per="ticket", price_amount=2000, max_per_order=1, capacity=3
        )
    body = order_body(shop, 2) | {
        "addons": [{"addon_id": parking.id, "quantity": 1}, {"addon_id": meal.id, "quantity": 2}]
    }
    resp = place(client, body)
    assert resp.status_code == 201, resp.text
    order = resp.json()
    assert order["total"]["amount"] == 2 * 500000 + 100000 + 2 * 2000
    kinds = [(i["kind"], i["name"], i["quantity"]) for i in order["items"]]
    assert kinds == [("ticket", "Regular", 2), ("addon", "Parking", 1), ("addon", "Meal", 2)]

    too_many = order_body(shop, 1) | {"addons": [{"addon_id": meal.id, "quantity": 2}]}
    assert place(client, too_many).json()["code"] == "limit_exceeded"
    last = order_body(shop, 2) | {
        "addons": [{"addon_id": meal.id, "quantity": 2}],
        "buyer": {"email": "z@example.com"},
    }
    resp = place(client, last)
    assert resp.status_code == 409
    assert resp.json()["code"] == "addon_sold_out"
    assert tier_counts(db, shop.tier.id) == (2, 0)  # the refused order held nothing


def test_addon_of_another_event_is_not_found(client, db, shop, settings) -> None:
    other = open_shop(db, settings)
    with db.session() as s:
        foreign = make_addon(s, other.event)
    resp = place(client, order_body(shop) | {"addons": [{"addon_id": foreign.id, "quantity": 1}]})
    assert resp.status_code == 404
    assert resp.json()["code"] == "addon_not_found"


def test_confirmation_email_is_scheduled_once_per_order(client, db, shop) -> None:
    body = order_body(shop) | {"items": [{"tier_id": shop.free.id, "quantity": 1}]}
    order = place(client, body).json()
    keys = db.query(
        lambda s: list(s.scalars(select(Job.unique_key).where(Job.name == "emails.send")))
    )
    assert keys == [f"order_confirmation:{order['id']}"]


def test_anonymous_buyers_idempotency_keys_do_not_collide(client, db, shop) -> None:
    headers = {"Idempotency-Key": "same-key-from-two-buyers"}
    first = place(client, order_body(shop), headers=headers)
    other = order_body(shop)
    other["buyer"] = {"email": "bola@example.com", "name": "Bola"}
    second = place(client, other, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


def test_an_order_total_past_two_to_the_31_minor_units_is_stored_whole(client, db, settings):
    """Money columns are BIGINT: 3 tickets at 20 million naira (in kobo) total 6e9 kobo."""
    shop = open_shop(db, settings, price_amount=2_000_000_000)
    resp = place(client, order_body(shop, 3))
    assert resp.status_code == 201, resp.text
    assert resp.json()["total"] == {"amount": 6_000_000_000, "currency": "NGN"}
    again = client.get(
        f"/api/v1/orders/{resp.json()['id']}", params={"token": resp.json()["order_token"]}
    )
    assert again.json()["total"]["amount"] == 6_000_000_000
