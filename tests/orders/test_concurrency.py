"""Races on PostgreSQL with real commits and threads: stock never oversold, a webhook
applied once however often and in whatever order it arrives, late payments never
double-sold."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.errors import AppError
from admitone.events.models import TicketTier
from admitone.integrations.payments import registry
from admitone.integrations.payments.dev import DevProvider
from admitone.orders import inventory
from admitone.orders import service as orders
from admitone.orders.models import Order, OrderHistory
from admitone.passes.models import Pass
from admitone.payments import dev as dev_payments
from admitone.payments import service as payments
from admitone.payments.models import Payment, Refund
from admitone.settings import Settings
from tests.orders.shop import Shop, open_shop, tier_counts

pytestmark = pytest.mark.postgres


def _buy(db: Database, settings: Settings, shop: Shop, email: str, k: int = 1) -> str:
    """Places an order the way the route does (order + payment in one mutation)."""

    def _place(session: Session) -> str:
        details = orders.place_order(
            session,
            settings,
            orders.OrderRequest(
                event_id=shop.event.id,
                items=[orders.TicketLine(shop.tier.id, k)],
                buyer_email=email,
            ),
        )
        if details.order.status == "pending":
            payments.open_payment(session, details.order, provider="dev")
        return details.order.id

    return db.mutation(_place)


def _race(n: int, workers: int, fn: Callable[[int], Any]) -> list[Any]:
    """Runs fn(0..n-1) on `workers` threads released together; exceptions are returned."""
    gate = threading.Barrier(min(n, workers))

    def run(i: int) -> Any:
        if i < workers:
            gate.wait(timeout=30)
        try:
            return fn(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(n)))


def _paid_state(s: Session, order_id: str) -> tuple[str, int, int, int]:
    """An order's status, its passes, its `orders.paid` entries and its payment rows."""

    def count(model: Any, *where: Any) -> int:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0

    status = s.scalar(select(Order.status).where(Order.id == order_id))
    return (
        status or "",
        count(Pass, Pass.order_id == order_id),
        count(
            OrderHistory, OrderHistory.order_id == order_id, OrderHistory.action == "orders.paid"
        ),
        count(Payment, Payment.order_id == order_id),
    )


def _no_drift(db: Database) -> None:
    assert db.query(inventory.find_drift) == []


def test_500_buyers_racing_for_100_seats_sell_exactly_100(
    committed_db: Database, settings: Settings
) -> None:
    shop = open_shop(committed_db, settings, capacity=100)
    results = _race(500, 32, lambda i: _buy(committed_db, settings, shop, f"b{i}@example.com"))
    won = [r for r in results if isinstance(r, str)]
    lost = [r for r in results if not isinstance(r, str)]
    assert len(won) == 100
    assert {type(e).__name__ for e in lost} == {"TierSoldOut"}
    assert tier_counts(committed_db, shop.tier.id) == (100, 0)
    assert (
        committed_db.query(
            lambda s: s.scalar(
                select(func.count()).select_from(Order).where(Order.status == "pending")
            )
        )
        == 100
    )
    _no_drift(committed_db)


def test_mixed_quantities_never_oversell(committed_db: Database, settings: Settings) -> None:
    shop = open_shop(committed_db, settings, capacity=50)
    qty = [random.randint(1, 4) for _ in range(200)]
    results = _race(
        200, 32, lambda i: _buy(committed_db, settings, shop, f"m{i}@example.com", qty[i])
    )
    sold = sum(q for q, r in zip(qty, results, strict=True) if isinstance(r, str))
    held, _ = tier_counts(committed_db, shop.tier.id)
    assert held == sold <= 50
    assert 50 - held < 4  # what is left fits nobody who lost
    _no_drift(committed_db)


def _dev(settings: Settings) -> DevProvider:
    provider = registry.get_provider(settings, "dev")
    assert isinstance(provider, DevProvider)
    return provider


def _payment(db: Database, order_id: str) -> Payment:
    return db.query(lambda s: s.scalars(select(Payment).where(Payment.order_id == order_id)).one())


def test_same_webhook_five_times_concurrently_and_out_of_order_changes_the_order_once(
    committed_db: Database, settings: Settings
) -> None:
    shop = open_shop(committed_db, settings, capacity=100)
    dev = _dev(settings)
    for round_ in range(5):
        order_id = _buy(committed_db, settings, shop, f"w{round_}@example.com", 3)
        pay = _payment(committed_db, order_id)
        success = dev.sign_webhook(dev.build_event(pay.reference, "succeeded", pay.amount, "NGN"))
        # A decline the provider sent earlier arrives among the retries of the success.
        decline = dev.sign_webhook(dev.build_event(pay.reference, "failed", pay.amount, "NGN"))
        deliveries = [success] * 5 + [decline]
        random.shuffle(deliveries)
        outcomes = _race(
            len(deliveries),
            len(deliveries),
            lambda i, d=deliveries: (
                payments.process_webhook(committed_db, settings, "dev", d[i][0], d[i][1]).outcome
            ),
        )
        counts = Counter(outcomes)
        assert counts["paid"] == 1, outcomes
        assert counts["duplicate"] == 4, outcomes
        assert counts["payment_failed"] + counts["stale"] == 1, outcomes
        assert committed_db.query(_paid_state, order_id) == ("paid", 3, 1, 1)
    assert tier_counts(committed_db, shop.tier.id) == (0, 15)
    _no_drift(committed_db)


def test_webhooks_racing_the_buyers_own_return_from_checkout_pay_the_order_once(
    committed_db: Database, settings: Settings
) -> None:
    # The buyer comes back from the dev checkout (its approve button: the provider's word
    # through the same path) and reloads the order while the provider delivers its success
    # five times and a stale decline, all at once.
    shop = open_shop(committed_db, settings, capacity=100)
    dev = _dev(settings)
    order_id = _buy(committed_db, settings, shop, "returns@example.com", 2)
    pay = _payment(committed_db, order_id)
    success = dev.sign_webhook(dev.build_event(pay.reference, "succeeded", pay.amount, "NGN"))
    decline = dev.sign_webhook(dev.build_event(pay.reference, "failed", pay.amount, "NGN"))
    deliveries = [success] * 5 + [decline]  # the decline is the sixth (index 5)

    def act(i: int) -> str:
        if i < len(deliveries):
            body, headers = deliveries[i]
            return payments.process_webhook(committed_db, settings, "dev", body, headers).outcome
        if i == len(deliveries):  # the buyer's return through the checkout
            return str(
                dev_payments.settle_dev_payment(committed_db, settings, pay.reference, "succeeded")[
                    "outcome"
                ]
            )
        return str(committed_db.query(lambda s: orders.get_order(s, order_id).status))

    outcomes = _race(len(deliveries) + 3, len(deliveries) + 3, act)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    applied = Counter(outcomes[: len(deliveries) + 1])
    assert applied["paid"] == 1, outcomes
    assert applied["paid"] + applied["duplicate"] + applied["already_paid"] == 6, outcomes
    assert outcomes[5] in ("stale", "payment_failed"), outcomes  # the decline
    assert _payment(committed_db, order_id).status == "succeeded"
    assert all(o in ("pending", "paid") for o in outcomes[len(deliveries) + 1 :]), outcomes
    assert committed_db.query(_paid_state, order_id) == ("paid", 2, 1, 1)
    assert tier_counts(committed_db, shop.tier.id) == (0, 2)
    _no_drift(committed_db)


def test_payment_after_expiry_races_buyers_and_is_never_double_sold(
    committed_db: Database, settings: Settings
) -> None:
    dev = _dev(settings)
    outcomes: Counter[str] = Counter()
    for round_ in range(6):
        shop = open_shop(committed_db, settings, capacity=10)
        late = _buy(committed_db, settings, shop, f"late{round_}@example.com", 4)
        pay = _payment(committed_db, late)
        with time_machine.travel(utcnow() + timedelta(minutes=20), tick=True):
            event = dev.build_event(pay.reference, "succeeded", pay.amount, "NGN")
            body, headers = dev.sign_webhook(event)
            assert committed_db.mutation(orders.expire_order, settings, late)

            def act(
                i: int,
                body: bytes = body,
                headers: dict[str, str] = headers,
                shop: Shop = shop,
                tag: str = f"r{round_}",
            ) -> Any:
                if i == 0:
                    return payments.process_webhook(committed_db, settings, "dev", body, headers)
                return _buy(committed_db, settings, shop, f"{tag}-{i}@example.com", 1)

            results = _race(11, 11, act)
        applied = results[0]
        assert not isinstance(applied, Exception), applied
        outcomes[applied.outcome] += 1
        buyers = sum(isinstance(r, str) for r in results[1:])
        held, sold = tier_counts(committed_db, shop.tier.id)
        assert held + sold <= 10
        refunds = committed_db.query(
            lambda s, o=late: s.scalar(
                select(func.count()).select_from(Refund).where(Refund.order_id == o)
            )
        )
        if applied.outcome == "paid_after_expiry":
            assert (sold, refunds) == (4, 0)
            assert buyers == held <= 6
        else:
            assert applied.outcome == "refunded_automatically"
            assert (sold, refunds) == (0, 1)
            assert buyers == held > 6
        _no_drift(committed_db)
    assert set(outcomes) <= {"paid_after_expiry", "refunded_automatically"}


def test_expiry_racing_its_payment_ends_paid_exactly_once(
    committed_db: Database, settings: Settings
) -> None:
    dev = _dev(settings)
    shop = open_shop(committed_db, settings, capacity=100)
    seen: Counter[str] = Counter()
    for round_ in range(10):
        order_id = _buy(committed_db, settings, shop, f"x{round_}@example.com", 2)
        pay = _payment(committed_db, order_id)
        with time_machine.travel(utcnow() + timedelta(minutes=20), tick=True):
            event = dev.build_event(pay.reference, "succeeded", pay.amount, "NGN")
            body, headers = dev.sign_webhook(event)
            results = _race(
                2,
                2,
                lambda i, b=body, h=headers, o=order_id: (
                    payments.process_webhook(committed_db, settings, "dev", b, h).outcome
                    if i == 0
                    else committed_db.mutation(orders.expire_order, settings, o)
                ),
            )
        assert not any(isinstance(r, AppError | Exception) for r in results), results
        seen[results[0]] += 1
        status = committed_db.query(
            lambda s, o=order_id: s.scalar(select(Order.status).where(Order.id == o))
        )
        assert status == "paid"
    assert set(seen) <= {"paid", "paid_after_expiry"}
    held, sold = tier_counts(committed_db, shop.tier.id)
    assert (held, sold) == (0, 20)
    _no_drift(committed_db)
    assert (
        committed_db.query(
            lambda s: s.scalar(select(TicketTier.capacity).where(TicketTier.id == shop.tier.id))
        )
        == 100
    )
