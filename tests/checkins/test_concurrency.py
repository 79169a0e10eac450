"""Exactly-once under real concurrency (PostgreSQL): many devices, one pass; many passes, one
burst; a retried scan_id racing itself."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from admitone.checkins import service as checkins
from admitone.checkins.models import CheckIn, CheckInScan, Checkpoint
from admitone.checkins.service.checkpoints import default_checkpoint
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.ids import PassId
from admitone.events.models import Event, TicketTier
from admitone.passes.codes import new_code
from admitone.passes.models import Pass
from tests.factories import make_event, make_order, make_organization, make_tier, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.committed]

SECRET = b"test-secret-key-0123456789abcdef"
T = TypeVar("T")


def _setup(db: Database, n_passes: int) -> tuple[Event, list[Pass]]:
    with db.session() as session:
        org = make_organization(session, make_user(session))
        event = make_event(session, org)
        tier: TicketTier = make_tier(session, event, capacity=n_passes)
        order, item = make_order(session, event, tier, quantity=n_passes)
        passes = [
            Pass(
                id=PassId.new(),
                event_id=event.id,
                order_id=order.id,
                order_item_id=item.id,
                tier_id=tier.id,
                code=new_code(),
                status="valid",
            )
            for _ in range(n_passes)
        ]
        session.add_all(passes)
        session.flush()
        # The default checkpoint exists before the race (as at a real door): were it created
        # inside the racing scans, they would queue behind its insert and never race the
        # check-in insert itself, whose losing branch is what these tests must exercise.
        default_checkpoint(session, event.id)
        return event, passes


def _race(n: int, fn: Callable[[int], T]) -> list[T]:
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def _scan(db: Database, event_id: str, code: str, **scan: Any) -> dict[str, Any]:
    return db.mutation(
        checkins.scan_pass,
        SECRET,
        event_id=event_id,
        scan=checkins.ScanInput(code=code, **scan),
        user_id=None,
    )


def test_twenty_devices_scanning_one_pass_at_once_admit_it_once(committed_db: Database) -> None:
    event, [p] = _setup(committed_db, 1)
    results = _race(20, lambda i: _scan(committed_db, event.id, p.code, device_id=f"d{i}"))
    counts = Counter(r["result"] for r in results)
    assert counts == {"accepted": 1, "already_checked_in": 19}
    winner = results.index(next(r for r in results if r["result"] == "accepted"))
    repeats = {r["first_device_id"] for r in results if r["result"] != "accepted"}
    assert repeats == {f"d{winner}"}
    with committed_db.session() as session:
        assert session.scalar(select(func.count()).select_from(CheckIn)) == 1
        assert session.scalar(select(func.count()).select_from(CheckInScan)) == 20
        # The default checkpoint, created by the first scans racing, exists once.
        assert session.scalar(select(func.count()).select_from(Checkpoint)) == 1


def test_burst_of_two_thousand_distinct_passes_loses_none(committed_db: Database) -> None:
    event, passes = _setup(committed_db, 2000)
    with ThreadPoolExecutor(16) as pool:  # 16 scanners: the door of a large venue
        results = list(
            pool.map(
                lambda p: _scan(committed_db, event.id, p.code, device_id="burst")["result"],
                passes,
            )
        )
    assert Counter(results) == {"accepted": 2000}
    with committed_db.session() as session:
        admitted = session.scalar(select(func.count(func.distinct(CheckIn.pass_id))))
        assert admitted == 2000
        assert session.scalar(select(func.count()).select_from(CheckIn)) == 2000


def test_one_scan_id_retried_concurrently_gets_one_answer(committed_db: Database) -> None:
    event, [p] = _setup(committed_db, 1)
    results = _race(8, lambda i: _scan(committed_db, event.id, p.code, scan_id="same-scan"))
    assert {r["result"] for r in results} == {"accepted"}
    assert {r["check_in_id"] for r in results} == {results[0]["check_in_id"]}
    assert sum(1 for r in results if r.get("replayed")) == 7
    with committed_db.session() as session:
        assert session.scalar(select(func.count()).select_from(CheckInScan)) == 1


def test_racing_offline_syncs_keep_the_earliest_scan(committed_db: Database) -> None:
    event, [p] = _setup(committed_db, 1)
    base = utcnow() - timedelta(hours=1)
    results = _race(
        10,
        lambda i: _scan(
            committed_db,
            event.id,
            p.code,
            device_id=f"d{i}",
            scan_id=f"n{i}",
            scanned_at=base + timedelta(seconds=i),
            is_offline=True,
        ),
    )
    assert Counter(r["result"] for r in results)["accepted"] >= 1
    with committed_db.session() as session:
        rows = session.execute(select(CheckIn.device_id, CheckIn.scanned_at)).all()
    assert rows == [("d0", base)]
