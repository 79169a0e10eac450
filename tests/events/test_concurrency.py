"""Races settled by the database (PostgreSQL, real commits, threads)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from admitone.access.models import AuditEntry
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.errors import AppError
from admitone.core.jobs import Job
from admitone.events import errors
from admitone.events import service as events
from admitone.events.models import Event, TicketTier
from admitone.events.schemas import EventCreate, Money, TierCreate, TierUpdate
from admitone.orders import inventory
from tests.events.conftest import event_body
from tests.factories import make_event, make_organization, make_tier, make_user

pytestmark = pytest.mark.postgres


def _race(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Runs `work(i)` in n threads released together; returns each result or the AppError it
    raised. Any other exception fails the test."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    crashes: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except AppError as exc:
            results[i] = exc
        except BaseException as exc:
            crashes.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if crashes:
        raise crashes[0]
    return results


def _owner_and_org(db: Database) -> tuple[str, str]:
    with db.session() as s:
        user = make_user(s)
        org = make_organization(s, user)
        return user.id, org.id


def test_same_title_created_at_once_gets_distinct_slugs(committed_db: Database) -> None:
    user_id, org_id = _owner_and_org(committed_db)
    body = EventCreate.model_validate(event_body(title="Afrobeats Live"))
    results = _race(
        12, lambda _: committed_db.mutation(events.create_event, user_id, org_id, body).slug
    )
    assert all(isinstance(r, str) for r in results), results
    assert len(set(results)) == 12
    assert "afrobeats-live" in results


def test_capacity_never_drops_below_seats_held_under_racing_reservations(
    committed_db: Database,
) -> None:
    """Orders reserve through the orders domain's own `inventory.reserve` while the organizer
    lowers capacity: every capacity change the database accepts leaves the invariant true."""
    with committed_db.session() as s:
        organizer = make_user(s)
        event = make_event(s, make_organization(s, organizer), status="published")
        tier = make_tier(s, event, capacity=100)

    def work(i: int) -> Any:
        if i % 3 == 0:
            capacity = random.randint(20, 100)
            return committed_db.mutation(
                events.update_tier,
                organizer.id,
                tier.id,
                TierUpdate(capacity=capacity),
                b"secret",
            ).tier.capacity
        return int(
            committed_db.mutation(
                lambda s: inventory.reserve(s, TicketTier, tier.id, 5, into="held", now=utcnow())
            )
        )

    results = _race(30, work)
    refused = [r for r in results if isinstance(r, AppError)]
    assert all(isinstance(r, errors.CapacityBelowSold) for r in refused), refused
    final = committed_db.query(lambda s: s.get(TicketTier, tier.id))
    assert final is not None
    assert final.held_count + final.sold_count <= final.capacity
    assert final.held_count == 5 * sum(1 for i, r in enumerate(results) if i % 3 and r == 1)


def test_first_tiers_in_two_currencies_at_once_leave_one_currency(
    committed_db: Database,
) -> None:
    user_id, org_id = _owner_and_org(committed_db)
    event = committed_db.mutation(
        events.create_event, user_id, org_id, EventCreate.model_validate(event_body())
    )

    def work(i: int) -> Any:
        body = TierCreate(
            name=f"T{i}", price=Money(amount=100, currency="NGN" if i % 2 else "USD"), capacity=5
        )
        return committed_db.mutation(events.add_tier, user_id, event.id, body, b"s").tier.currency

    results = _race(10, work)
    refused = [r for r in results if isinstance(r, AppError)]
    assert all(isinstance(r, errors.CurrencyMismatch) for r in refused), refused
    currencies = committed_db.query(
        lambda s: set(s.scalars(select(TicketTier.currency).where(TicketTier.event_id == event.id)))
    )
    winner = committed_db.query(lambda s: s.get(Event, event.id).currency)  # type: ignore[union-attr]
    assert currencies == {winner}
    assert len(refused) == 5


def test_concurrent_cancels_schedule_the_orders_job_once(committed_db: Database) -> None:
    with committed_db.session() as s:
        organizer = make_user(s)
        event = make_event(s, make_organization(s, organizer), status="published")
    results = _race(
        8, lambda _: committed_db.mutation(events.cancel_event, organizer.id, event.id).status
    )
    assert results == ["cancelled"] * 8
    jobs_and_audits = committed_db.query(
        lambda s: (
            len(s.scalars(select(Job).where(Job.name == "orders.cancel_event")).all()),
            len(
                s.scalars(
                    select(AuditEntry).where(
                        AuditEntry.target_id == event.id,
                        AuditEntry.action == "event.cancelled",
                    )
                ).all()
            ),
        )
    )
    assert jobs_and_audits == (1, 1)
