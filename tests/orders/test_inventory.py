"""`orders.inventory` itself: the stock counters' conditional updates, at their edges.

The order service checks the pause and the sales window before it reserves; the reserve
statement checks them again, in the same UPDATE that takes the seats, for a tier paused or
closed between that read and the write. Called directly here, so that second guard is
tested on its own (mutation testing found it untested: removing it passed the suite).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.events.models import TicketTier
from admitone.orders import inventory
from admitone.orders.models import Addon
from tests.factories import make_addon, make_event, make_organization, make_tier, make_user


def _event(db: Database):  # type: ignore[no-untyped-def]
    with db.session() as s:
        return make_event(s, make_organization(s, make_user(s)))


def _counts(db: Database, model: type[TicketTier] | type[Addon], row_id: str) -> tuple[int, int]:
    with db.session() as s:
        row = s.get(model, row_id)
        assert row is not None
        return row.held_count, row.sold_count


def test_reserve_takes_seats_up_to_the_capacity_and_not_one_more(db: Database) -> None:
    event = _event(db)
    with db.session() as s:
        tier = make_tier(s, event, capacity=5)
    now = utcnow()
    with db.session() as s:
        assert inventory.reserve(s, TicketTier, tier.id, 3, into="held", now=now)
        assert inventory.reserve(s, TicketTier, tier.id, 2, into="sold", now=now)
        assert not inventory.reserve(s, TicketTier, tier.id, 1, into="held", now=now)
        assert not inventory.reserve(s, TicketTier, tier.id, 1, into="sold", now=now)
    assert _counts(db, TicketTier, tier.id) == (3, 2)


def test_reserve_refuses_a_paused_tier_and_outside_the_sales_window(db: Database) -> None:
    event = _event(db)
    now = utcnow()
    with db.session() as s:
        paused = make_tier(s, event, is_paused=True)
        early = make_tier(s, event, sales_start_at=now + timedelta(seconds=1))
        starts_now = make_tier(s, event, sales_start_at=now)
        ended = make_tier(s, event, sales_end_at=now)
        open_ = make_tier(s, event, sales_start_at=now - timedelta(days=1),
                          sales_end_at=now + timedelta(seconds=1))  # fmt: skip
    with db.session() as s:
        for refused in (paused, early, ended):
            assert not inventory.reserve(s, TicketTier, refused.id, 1, into="held", now=now)
        for accepted in (starts_now, open_):
            assert inventory.reserve(s, TicketTier, accepted.id, 1, into="held", now=now)
    assert _counts(db, TicketTier, paused.id) == (0, 0)
    assert _counts(db, TicketTier, open_.id) == (1, 0)


def test_reserve_refuses_an_inactive_addon(db: Database) -> None:
    event = _event(db)
    with db.session() as s:
        active = make_addon(s, event, capacity=2)
        inactive = make_addon(s, event, capacity=2, is_active=False)
    now = utcnow()
    with db.session() as s:
        assert inventory.reserve(s, Addon, active.id, 2, into="held", now=now)
        assert not inventory.reserve(s, Addon, inactive.id, 1, into="held", now=now)
    assert _counts(db, Addon, active.id) == (2, 0)
    assert _counts(db, Addon, inactive.id) == (0, 0)


def test_held_to_sold_release_and_restore_keep_the_counters_whole(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    event = _event(db)
    with db.session() as s:
        tier = make_tier(s, event, capacity=4, is_paused=False)
        bystander = make_tier(s, event, name="Other", capacity=4, held_count=3, sold_count=1)
    now = utcnow()
    with db.session() as s:
        assert inventory.reserve(s, TicketTier, tier.id, 3, into="held", now=now)
        assert not inventory.held_to_sold(s, TicketTier, tier.id, 4)  # more than held
        assert inventory.held_to_sold(s, TicketTier, tier.id, 3)
    assert _counts(db, TicketTier, tier.id) == (0, 3)
    assert "inventory drift" not in caplog.text
    with db.session() as s:
        inventory.release(s, TicketTier, tier.id, 4, held=False)  # more than sold: drift
    assert _counts(db, TicketTier, tier.id) == (0, 3)
    drift = [r.getMessage() for r in caplog.records if "drift" in r.getMessage()]
    assert drift == [f"inventory drift: ticket_tiers {tier.id} cannot release 4 sold"]
    caplog.clear()  # from here on every release fits its counter: no drift may be logged
    with db.session() as s:
        inventory.release(s, TicketTier, tier.id, 3, held=False)
        s.get(TicketTier, tier.id).is_paused = True  # type: ignore[union-attr]
    with db.session() as s:
        # a late payment takes its seats back whatever the pause; only capacity counts
        assert inventory.restore_sold(s, TicketTier, tier.id, 4)
        assert not inventory.restore_sold(s, TicketTier, tier.id, 1)
    assert _counts(db, TicketTier, tier.id) == (0, 4)
    with db.session() as s:
        assert inventory.reserve(s, TicketTier, tier.id, 0, into="held", now=now) is False
        inventory.release(s, TicketTier, tier.id, 4, held=False)
        s.get(TicketTier, tier.id).is_paused = False  # type: ignore[union-attr]
    with db.session() as s:
        assert inventory.reserve(s, TicketTier, tier.id, 2, into="held", now=now)
        inventory.release(s, TicketTier, tier.id, 2, held=True)
    assert _counts(db, TicketTier, tier.id) == (0, 0)
    assert _counts(db, TicketTier, bystander.id) == (3, 1)  # only the named row moves
    assert "inventory drift" not in caplog.text
    with db.session() as s:
        inventory.release(s, TicketTier, tier.id, 1, held=True)  # more than held: drift
    drift = [r.getMessage() for r in caplog.records if "drift" in r.getMessage()]
    assert drift == [f"inventory drift: ticket_tiers {tier.id} cannot release 1 held"]


def test_the_per_buyer_count_stops_at_the_limit_and_gives_back(db: Database) -> None:
    event = _event(db)
    with db.session() as s:
        tier = make_tier(s, event)
    with db.session() as s:
        assert not inventory.count_for_buyer(s, tier.id, "b@example.com", 5, 4)
        assert inventory.count_for_buyer(s, tier.id, "b@example.com", 3, 4)
        assert inventory.count_for_buyer(s, tier.id, "b@example.com", 1, 4)  # exactly 4
        assert not inventory.count_for_buyer(s, tier.id, "b@example.com", 1, 4)
        inventory.uncount_for_buyer(s, tier.id, "b@example.com", 5)  # more than held: no-op
        assert not inventory.count_for_buyer(s, tier.id, "b@example.com", 1, 4)
        inventory.uncount_for_buyer(s, tier.id, "b@example.com", 2)
        assert inventory.count_for_buyer(s, tier.id, "b@example.com", 2, 4)
        inventory.add_for_buyer(s, tier.id, "b@example.com", 3)  # a late payment: no limit
        assert not inventory.count_for_buyer(s, tier.id, "b@example.com", 1, 7)
        assert inventory.count_for_buyer(s, tier.id, "b@example.com", 1, 8)
