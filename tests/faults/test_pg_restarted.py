"""PostgreSQL restarted (`pg_ctl restart -m fast`) under load from an API process.

The cluster is private to the test (tests/faults/conftest.py `private_postgres`): the
shared server other tests use is never restarted.

Invariants:
- every request gets an HTTP answer (no transport error, no hang past a bound): 200/201,
  or 503 `database_unavailable` with `Retry-After` and no traceback; never a 500;
- the pool recovers by itself: a request started after the restart is answered 200 within
  seconds, with no restart of the API process (its pid is unchanged);
- no partial write survives: every order a client was told about exists once; an order
  whose request died retried with its Idempotency-Key gets its one order; the tiers'
  counters equal the rows; every priced order has its payment row; every paid order one
  valid pass per unit.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from admitone.core.db import Database, make_engine
from admitone.migrate import upgrade
from tests.factories import make_event, make_organization, make_tier, make_user
from tests.faults.conftest import PrivateCluster, Processes, free_port, process_env, wait_for
from tests.faults.test_api_killed import _serve

pytestmark = [pytest.mark.postgres, pytest.mark.faults]

LOADERS = 6
# Connecting waits at most 5 s and a pool checkout at most 10 s (core/db.py make_engine):
# an answer later than this is a hang, whatever the load on the box.
ANSWER_BOUND = 30.0


@dataclass
class Outcome:
    kind: str
    started: float
    elapsed: float
    status: int | None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Order:
    n: int
    key: str
    body: dict[str, Any]
    status: int | None = None
    answer: Any = None


class Load:
    """LOADERS threads, each alternating the public events list and an order (free or
    priced, its own buyer and Idempotency-Key), until stopped."""

    def __init__(self, base: str, event_id: str, tier_ids: list[str]) -> None:
        self.base, self.event_id, self.tier_ids = base, event_id, tier_ids
        self.outcomes: list[Outcome] = []
        self.orders: list[Order] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.count = 0

    def _request(self, http: httpx.Client, kind: str, order: Order | None) -> None:
        started = time.monotonic()
        try:
            if order is None:
                resp = http.get("/api/v1/public/events")
            else:
                resp = http.post(
                    "/api/v1/orders", json=order.body, headers={"Idempotency-Key": order.key}
                )
        except httpx.HTTPError as exc:
            outcome = Outcome(kind, started, time.monotonic() - started, None, error=repr(exc))
        else:
            body = resp.json() if resp.headers.get("content-type", "").endswith("json") else None
            outcome = Outcome(
                kind, started, time.monotonic() - started, resp.status_code, body,
                dict(resp.headers), None if body is not None else resp.text[:500],
            )  # fmt: skip
            if order is not None:
                order.status, order.answer = resp.status_code, body
        with self.lock:
            self.outcomes.append(outcome)

    def run(self, loader: int) -> None:
        with httpx.Client(base_url=self.base, timeout=ANSWER_BOUND * 2) as http:
            i = 0
            while not self.stop.is_set():
                if i % 2:
                    with self.lock:
                        n = self.count
                        self.count += 1
                    order = Order(
                        n,
                        f"restart-{n}",
                        {
                            "event_id": self.event_id,
                            "items": [{"tier_id": self.tier_ids[n % 2], "quantity": 1}],
                            "buyer": {"email": f"buyer{n}@example.com", "name": f"Buyer {n}"},
                        },
                    )
                    with self.lock:
                        self.orders.append(order)
                    self._request(http, "order", order)
                else:
                    self._request(http, "events", None)
                i += 1

    def answered_since(self, moment: float, status: int) -> int:
        with self.lock:
            return sum(o.started >= moment and o.status == status for o in self.outcomes)


def _rows(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql)).mappings())


def test_postgres_restarted_under_load_503_then_recovery_and_nothing_partial(
    private_postgres: PrivateCluster, tmp_path: Path
) -> None:
    admin = make_engine(private_postgres.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "admitone_restart"'))
    admin.dispose()
    url = make_url(private_postgres.url).set(database="admitone_restart")
    database_url = url.render_as_string(hide_password=False)
    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    upgrade(engine)
    with Database(engine).session() as session:
        org = make_organization(session, make_user(session))
        event = make_event(session, org)
        tiers = [
            make_tier(session, event, name="Free", price_amount=0, capacity=100_000).id,
            make_tier(session, event, name="Paid", price_amount=1000, capacity=100_000).id,
        ]
        event_id = event.id

    processes = Processes(env=process_env(database_url, tmp_path / "var"), log_dir=tmp_path)
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = _serve(processes, port)
        load = Load(base, event_id, tiers)
        with ThreadPoolExecutor(max_workers=LOADERS) as pool:
            futures = [pool.submit(load.run, n) for n in range(LOADERS)]
            try:
                wait_for(lambda: load.answered_since(0, 201) >= 10, 120, "orders under load")
                engine.dispose()
                private_postgres.restart()
                restarted = time.monotonic()
                # Recovery: requests started after the restart are answered again.
                wait_for(
                    lambda: (
                        load.answered_since(restarted, 200) >= 3
                        and load.answered_since(restarted, 201) >= 3
                    ),
                    60,
                    "the API to answer again after the restart",
                )
                recovered_after = (
                    min(
                        o.started + o.elapsed
                        for o in load.outcomes
                        if o.started >= restarted and o.status in (200, 201)
                    )
                    - restarted
                )
            finally:
                load.stop.set()
                for f in futures:
                    f.result(timeout=ANSWER_BOUND * 3)
        assert server.poll() is None, "the API process died"

        # Every request answered, within the bound, with 2xx or a clean 503.
        outcomes = load.outcomes
        errors = [o for o in outcomes if o.status is None]
        assert errors == [], errors[:5]
        slow = [o for o in outcomes if o.elapsed > ANSWER_BOUND]
        assert slow == [], slow[:5]
        assert {o.status for o in outcomes} <= {200, 201, 503}, [
            (o.status, o.body) for o in outcomes if o.status not in (200, 201, 503)
        ][:5]
        unavailable = [o for o in outcomes if o.status == 503]
        assert unavailable, "the restart should have met requests in flight"
        for o in unavailable:
            assert o.body is not None, o
            assert o.body["code"] == "database_unavailable", o
            assert o.headers.get("retry-after") == "2", o.headers
            assert "traceback" not in str(o.body).lower()
        assert "unhandled error" not in processes.logs()
        assert recovered_after < 30, f"the pool took {recovered_after:.1f} s to recover"

        # Each order whose request was refused retries with its key and gets its order.
        refused = [o for o in load.orders if o.status != 201]
        with engine.begin() as conn:  # records of requests cut mid-way: their minute passes
            conn.execute(
                text(
                    "UPDATE idempotency_keys SET created_at = created_at - interval '61 seconds' "
                    "WHERE status = 'in_progress'"
                )
            )
        with httpx.Client(base_url=base, timeout=ANSWER_BOUND * 2) as http:
            for order in refused:
                resp = http.post(
                    "/api/v1/orders", json=order.body, headers={"Idempotency-Key": order.key}
                )
                order.status, order.answer = resp.status_code, resp.json()
                assert order.status == 201, (order.n, order.status, order.answer)
    finally:
        processes.stop_all()

    # No partial write: each buyer's one order, answered; counters equal the rows.
    orders = {r["buyer_email"]: r for r in _rows(engine, "SELECT * FROM orders")}
    per_email = _rows(engine, "SELECT buyer_email, count(*) AS n FROM orders GROUP BY 1")
    assert all(r["n"] == 1 for r in per_email), per_email
    assert len(orders) == len(load.orders)
    for order in load.orders:
        assert orders[f"buyer{order.n}@example.com"]["id"] == order.answer["id"]
    unanswered = _rows(
        engine,
        "SELECT o.id FROM orders o WHERE NOT EXISTS (SELECT 1 FROM idempotency_keys k "
        "WHERE k.status = 'done' AND k.response_body->>'id' = o.id)",
    )
    assert unanswered == []
    for tier in _rows(
        engine,
        "SELECT t.id, t.held_count, t.sold_count, "
        "coalesce(sum(i.quantity) FILTER (WHERE o.status = 'pending'), 0) AS held_rows, "
        "coalesce(sum(i.quantity) FILTER (WHERE o.status = 'paid'), 0) AS sold_rows "
        "FROM ticket_tiers t LEFT JOIN order_items i ON i.tier_id = t.id "
        "LEFT JOIN orders o ON o.id = i.order_id GROUP BY t.id",
    ):
        assert (tier["held_count"], tier["sold_count"]) == (
            tier["held_rows"],
            tier["sold_rows"],
        ), tier
    assert (
        _rows(
            engine,
            "SELECT o.id FROM orders o WHERE o.total_amount > 0 AND NOT EXISTS "
            "(SELECT 1 FROM payments p WHERE p.order_id = o.id)",
        )
        == []
    )
    assert (
        _rows(
            engine,
            "SELECT o.id FROM orders o JOIN order_items i ON i.order_id = o.id "
            "WHERE o.status = 'paid' GROUP BY o.id HAVING sum(i.quantity) <> "
            "(SELECT count(*) FROM passes p WHERE p.order_id = o.id AND p.status = 'valid')",
        )
        == []
    )
    engine.dispose()
    print(
        f"requests {len(outcomes)}, 503 {len(unavailable)}, orders {len(orders)}, "
        f"retried {len(refused)}, recovered {recovered_after:.2f} s after the restart"
    )
