"""The whole payment path against local Paystack and Stripe servers speaking their wire
formats: checkout, signed webhooks, refunds, and a provider that is down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from admitone.app import create_app
from admitone.core.db import Database
from admitone.payments.models import Refund
from admitone.settings import Settings
from tests.integrations.payments.fakes import fake_paystack, fake_stripe
from tests.orders.shop import open_shop, order_body, place, tier_counts

__all__ = ["fake_paystack", "fake_stripe"]


@pytest.fixture
def paystack_client(db: Database, settings: Settings, fake_paystack) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    bound = settings.model_copy(update={"payments": fake_paystack.configure(settings.payments)})
    with TestClient(create_app(bound, db, run_worker=False), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def stripe_client(db: Database, settings: Settings, fake_stripe) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    bound = settings.model_copy(update={"payments": fake_stripe.configure(settings.payments)})
    with TestClient(create_app(bound, db, run_worker=False), raise_server_exceptions=False) as c:
        yield c


def test_paystack_checkout_webhook_and_refund(paystack_client, fake_paystack, db, settings) -> None:
    from admitone.core import jobs

    client = paystack_client
    bound = settings.model_copy(update={"payments": fake_paystack.configure(settings.payments)})
    shop = open_shop(db, settings)
    order = place(client, order_body(shop, 2) | {"provider": "paystack"}).json()
    assert order["payment"]["provider"] == "paystack"
    assert order["payment"]["checkout_url"].startswith("http")
    body, headers = fake_paystack.pay(order["payment"]["reference"])
    paid = client.post("/support/v1/payments/webhooks/paystack", content=body, headers=headers)
    assert paid.status_code == 200, paid.text
    assert paid.json()["outcome"] == "paid"
    assert (
        client.post("/support/v1/payments/webhooks/paystack", content=body, headers=headers).json()[
            "outcome"
        ]
        == "duplicate"
    )
    assert tier_counts(db, shop.tier.id) == (0, 2)

    refund = client.post(
        f"/api/v1/orders/{order['id']}/refunds", json={}, headers=shop.owner_headers
    )
    assert refund.status_code == 201, refund.text
    jobs.drain(db, bound)
    assert fake_paystack.refunds
    assert fake_paystack.refunds[0]["amount"] == 1_000_000
    row = db.query(lambda s: s.scalars(select(Refund)).one())
    if row.status == "pending":  # Paystack finishes refunds later and says so by webhook
        body, headers = fake_paystack.process_refund(fake_paystack.refunds[0]["id"])
        done = client.post("/support/v1/payments/webhooks/paystack", content=body, headers=headers)
        assert done.json()["outcome"] == "refund_updated"
        row = db.query(lambda s: s.scalars(select(Refund)).one())
    assert row.status == "succeeded"


def test_paystack_webhook_with_a_wrong_signature_is_refused(
    paystack_client, fake_paystack, db, settings
) -> None:
    shop = open_shop(db, settings)
    order = place(paystack_client, order_body(shop) | {"provider": "paystack"}).json()
    body, _ = fake_paystack.pay(order["payment"]["reference"])
    forged = fake_paystack.sign(body, "sk_test_someone_else")
    resp = paystack_client.post(
        "/support/v1/payments/webhooks/paystack", content=body, headers=forged
    )
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_signature"
    assert tier_counts(db, shop.tier.id) == (1, 0)


def test_stripe_checkout_session_completed_pays_the_order(
    stripe_client, fake_stripe, db, settings
) -> None:
    shop = open_shop(db, settings)
    order = place(stripe_client, order_body(shop, 3) | {"provider": "stripe"}).json()
    assert order["payment"]["checkout_url"]
    body, headers = fake_stripe.pay(order["payment"]["reference"])
    resp = stripe_client.post("/support/v1/payments/webhooks/stripe", content=body, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["outcome"] == "paid"
    assert tier_counts(db, shop.tier.id) == (0, 3)


def test_provider_down_at_checkout_cancels_the_order_and_frees_the_seats(
    paystack_client, fake_paystack, db, settings
) -> None:
    shop = open_shop(db, settings)
    fake_paystack.fail_next(503)
    headers = {"Idempotency-Key": "down-1"}
    body = order_body(shop, 2) | {"provider": "paystack"}
    resp = place(paystack_client, body, headers=headers)
    assert resp.status_code == 502
    assert resp.json()["code"] == "provider_error"
    assert tier_counts(db, shop.tier.id) == (0, 0)
    again = place(paystack_client, body, headers=headers)  # the stored answer, not a new order
    assert again.status_code == 502
    assert again.headers["content-type"] == "application/problem+json"
