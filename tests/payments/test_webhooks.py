"""Webhooks applied once, checked against the order, and payments after expiry; the dev
checkout page; reconciliation with the provider."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select

from admitone.app import create_app
from admitone.core import jobs
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.integrations.payments import registry
from admitone.integrations.payments.dev import DevProvider
from admitone.payments.models import Payment, Refund, WebhookEvent
from admitone.settings import Settings
from tests.orders.shop import history, open_shop, order_body, place, tier_counts

WEBHOOK = "/support/v1/payments/webhooks/dev"


@pytest.fixture
def shop(db: Database, settings: Settings):  # type: ignore[no-untyped-def]
    return open_shop(db, settings)


def _dev(settings: Settings) -> DevProvider:
    provider = registry.get_provider(settings, "dev")
    assert isinstance(provider, DevProvider)
    return provider


def _signed(settings: Settings, order: dict, outcome: str = "succeeded", **data) -> tuple:  # type: ignore[type-arg]
    dev = _dev(settings)
    event = dev.build_event(
        order["payment"]["reference"], outcome, order["total"]["amount"], order["total"]["currency"]
    )
    event["data"].update(data)
    return dev.sign_webhook(event)


def _run_cron(db: Database, name: str) -> None:
    with db.session() as s:
        jobs.schedule(s, name, {"trigger": "test"})


def test_signed_webhook_pays_the_order_once(client, db, settings, shop, run_jobs) -> None:
    order = place(client, order_body(shop, 2)).json()
    body, headers = _signed(settings, order)
    first = client.post(WEBHOOK, content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "paid"
    replay = client.post(WEBHOOK, content=body, headers=headers)
    assert replay.json()["outcome"] == "duplicate"
    token = {"X-Order-Token": order["order_token"]}
    paid = client.get(f"/api/v1/orders/{order['id']}", headers=token).json()
    assert paid["status"] == "paid"
    assert paid["payment"]["status"] == "succeeded"
    assert len(paid["passes"]) == 2
    assert tier_counts(db, shop.tier.id) == (0, 2)
    assert history(db, order["id"]) == ["orders.placed", "orders.paid"]
    run_jobs()
    mail = client.get("/dev/mailbox", params={"to": "ada@example.com"}).json()["items"]
    assert [m["subject"] for m in mail] == [f"Your tickets for Test Event (order {order['id']})"]


def test_a_second_success_event_for_a_paid_payment_changes_nothing(
    client, db, settings, shop
) -> None:
    order = place(client, order_body(shop)).json()
    for _ in range(2):  # two distinct provider events reporting the same payment
        body, headers = _signed(settings, order)
        client.post(WEBHOOK, content=body, headers=headers)
    outcomes = db.query(lambda s: sorted(s.scalars(select(WebhookEvent.outcome))))
    assert outcomes == ["already_paid", "paid"]
    assert tier_counts(db, shop.tier.id) == (0, 1)


def test_bad_signatures_are_refused_and_not_recorded(client, db, settings, shop) -> None:
    order = place(client, order_body(shop)).json()
    body, headers = _signed(settings, order)
    tampered = body.replace(b"succeeded", b"succeedee")
    assert client.post(WEBHOOK, content=tampered, headers=headers).json()["code"] == (
        "invalid_signature"
    )
    assert client.post(WEBHOOK, content=body).status_code == 400
    wrong = dict(headers)
    wrong["X-Dev-Signature"] = "t=1,v1=" + "0" * 64
    assert client.post(WEBHOOK, content=body, headers=wrong).status_code == 400
    assert client.post("/support/v1/payments/webhooks/nope", content=body).status_code == 422
    assert db.query(lambda s: s.scalars(select(WebhookEvent)).all()) == []


def test_amount_mismatch_is_recorded_and_refused(client, db, settings, shop) -> None:
    order = place(client, order_body(shop)).json()
    body, headers = _signed(settings, order, amount=1)
    resp = client.post(WEBHOOK, content=body, headers=headers)
    assert resp.status_code == 422
    assert resp.json()["code"] == "payment_amount_mismatch"
    row = db.query(lambda s: s.scalars(select(WebhookEvent)).one())
    assert row.outcome == "payment_amount_mismatch"
    assert history(db, order["id"]) == ["orders.placed", "orders.payment_amount_mismatch"]
    assert tier_counts(db, shop.tier.id) == (1, 0)
    other_currency, h2 = _signed(settings, order, currency="USD")
    assert client.post(WEBHOOK, content=other_currency, headers=h2).status_code == 422


def test_declined_payment_keeps_the_order_pending(client, db, settings, shop) -> None:
    order = place(client, order_body(shop)).json()
    resp = client.post(f"/support/v1/payments/dev/{order['payment']['reference']}/decline")
    assert resp.json()["outcome"] == "payment_failed"
    assert resp.json()["order_status"] == "pending"
    # The buyer tries again and the provider reports success: it still applies.
    assert (
        client.post(f"/support/v1/payments/dev/{order['payment']['reference']}/approve").json()[
            "outcome"
        ]
        == "paid"
    )


def test_payment_after_expiry_re_reserves_when_stock_remains(client, db, settings, shop) -> None:
    order = place(client, order_body(shop, 2)).json()
    with time_machine.travel(utcnow() + timedelta(minutes=20), tick=False):
        _run_cron(db, "orders.expire")
        jobs.drain(db, settings)
        assert tier_counts(db, shop.tier.id) == (0, 0)
        body, headers = _signed(settings, order)
        resp = client.post(WEBHOOK, content=body, headers=headers)
    assert resp.json()["outcome"] == "paid_after_expiry"
    assert tier_counts(db, shop.tier.id) == (0, 2)
    assert history(db, order["id"]) == ["orders.placed", "orders.expired", "orders.paid"]


def test_payment_after_expiry_is_refunded_when_stock_is_gone(client, db, settings, shop) -> None:
    order = place(client, order_body(shop, 2)).json()
    with time_machine.travel(utcnow() + timedelta(minutes=20), tick=False):
        _run_cron(db, "orders.expire")
        jobs.drain(db, settings)
        for n in range(2):  # others buy every seat meanwhile
            other = order_body(shop, 5) | {"buyer": {"email": f"o{n}@example.com"}}
            assert place(client, other).status_code == 201
        body, headers = _signed(settings, order)
        resp = client.post(WEBHOOK, content=body, headers=headers)
        assert resp.json()["outcome"] == "refunded_automatically"
        jobs.drain(db, settings)
    assert tier_counts(db, shop.tier.id) == (10, 0)
    refund = db.query(lambda s: s.scalars(select(Refund)).one())
    assert (refund.amount, refund.status, refund.reason) == (
        1_000_000,
        "succeeded",
        "order_closed_before_payment",
    )
    token = {"X-Order-Token": order["order_token"]}
    view = client.get(f"/api/v1/orders/{order['id']}", headers=token).json()
    assert view["status"] == "expired"
    assert view["passes"] == []
    assert history(db, order["id"])[-1] == "orders.payment_after_expiry_refunded"


def test_payment_for_a_cancelled_order_is_refunded(client, db, settings, shop, run_jobs) -> None:
    order = place(client, order_body(shop)).json()
    client.post(
        f"/api/v1/orders/{order['id']}/cancel", headers={"X-Order-Token": order["order_token"]}
    )
    body, headers = _signed(settings, order)
    assert client.post(WEBHOOK, content=body, headers=headers).json()["outcome"] == (
        "refunded_automatically"
    )
    assert tier_counts(db, shop.tier.id) == (0, 0)


def test_reconcile_cron_applies_what_the_provider_says(client, db, settings, shop) -> None:
    order = place(client, order_body(shop)).json()
    # The provider recorded success but its webhook never reached us.
    _signed(settings, order)
    _run_cron(db, "payments.reconcile")
    jobs.drain(db, settings)
    assert tier_counts(db, shop.tier.id) == (1, 0)  # too recent to ask about
    with time_machine.travel(utcnow() + timedelta(minutes=3), tick=False):
        _run_cron(db, "payments.reconcile")
        jobs.drain(db, settings)
    assert tier_counts(db, shop.tier.id) == (0, 1)
    payment = db.query(lambda s: s.scalars(select(Payment)).one())
    assert payment.status == "succeeded"
    events = db.query(lambda s: s.scalars(select(WebhookEvent.provider_event_id)).all())
    assert events == [f"verify:{payment.reference}:succeeded"]


def test_dev_checkout_page_shows_the_payment(client, shop) -> None:
    order = place(client, order_body(shop)).json()
    page = client.get(order["payment"]["checkout_url"].removeprefix("http://testserver"))
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert order["payment"]["reference"] in page.text
    assert "Approve" in page.text
    assert client.get("/support/v1/payments/dev/pay-unknown").json()["code"] == (
        "payment_not_found"
    )
    assert client.post("/support/v1/payments/dev/bad_ref/approve").status_code == 422


def test_dev_pages_do_not_exist_outside_dev(db, settings) -> None:
    prod_like = settings.model_copy(update={"env": "test"})
    app = create_app(prod_like, db, run_worker=False)
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/support/v1/payments/dev/pay-x").status_code == 404
        assert c.post("/support/v1/payments/dev/pay-x/approve").status_code == 404


def test_webhook_payload_is_kept_for_audit(client, db, settings, shop) -> None:
    order = place(client, order_body(shop)).json()
    body, headers = _signed(settings, order)
    client.post(WEBHOOK, content=body, headers=headers)
    row = db.query(lambda s: s.scalars(select(WebhookEvent)).one())
    assert row.payload == json.loads(body)
    assert row.reference == order["payment"]["reference"]


def test_reconcile_gives_up_on_checkouts_abandoned_for_a_day(client, db, settings, shop) -> None:
    order = place(client, order_body(shop)).json()
    _signed(settings, order)  # the provider would say "succeeded" if asked
    with time_machine.travel(utcnow() + timedelta(days=2), tick=False):
        _run_cron(db, "payments.reconcile")
        jobs.drain(db, settings)
    assert db.query(lambda s: s.scalars(select(WebhookEvent)).all()) == []
    assert db.query(lambda s: s.scalars(select(Payment.status)).one()) == "pending"
