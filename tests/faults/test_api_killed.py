"""An API process killed with SIGKILL during an on-sale burst.

Invariants, checked in SQL after the restart and the retries:
- every client whose request died retries with its own Idempotency-Key and ends with one
  definite answer; no buyer (each client has its own e-mail) has two orders, and no order
  exists without a finished idempotency record answering with that order;
- the stock counters equal the rows: `held_count` = units in pending orders, `sold_count`
  = units in paid orders, and held + sold never exceeds capacity;
- every order of the paid tier has its payment row; every paid order has one valid pass
  per unit.

The idempotency record of a request that died stays `in_progress` for 60 s (then a retry
takes it over); the test moves `created_at` of those records back by 61 s instead of
waiting, which simulates that minute passing (nothing else is touched).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from admitone.core.db import Database
from tests.factories import make_event, make_organization, make_tier, make_user
from tests.faults.conftest import Processes, free_port, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.faults]

CLIENTS = 48
QUANTITY = 3
CAPACITY = 50


@dataclass
class Client:
    n: int
    body: dict[str, Any]
    key: str
    status: int | None = None
    answer: dict[str, Any] | None = None
    died: bool = False


def _serve(processes: Processes, port: int) -> Any:
    proc = processes.start(
        "serve",
        "--surface",
        "api",
        "--surface",
        "ops",
        "--port",
        str(port),
        "--graceful-seconds",
        "1",
    )

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited\n{processes.logs()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).is_success
        except httpx.TransportError:
            return False

    wait_for(ready, 120, "the API to be ready")
    return proc


def _post(base: str, client: Client) -> None:
    resp = httpx.post(
        f"{base}/api/v1/orders",
        json=client.body,
        headers={"Idempotency-Key": client.key},
        timeout=60,
    )
    client.status, client.answer = resp.status_code, resp.json()


def _rows(db: Database, sql: str) -> list[Any]:
    with db.bind.connect() as conn:
        return list(conn.execute(text(sql)).mappings())


def test_orders_survive_an_api_process_killed_mid_burst(
    committed_db: Database, processes: Processes
) -> None:
    with committed_db.session() as session:
        org = make_organization(session, make_user(session))
        event = make_event(session, org)
        free = make_tier(session, event, name="Free", price_amount=0, capacity=CAPACITY)
        paid = make_tier(session, event, name="Paid", price_amount=1000, capacity=CAPACITY)
        event_id, free_id, paid_id = event.id, free.id, paid.id

    clients = [
        Client(
            n,
            {
                "event_id": event_id,
                "items": [{"tier_id": free_id if n % 2 else paid_id, "quantity": QUANTITY}],
                "buyer": {"email": f"buyer{n}@example.com", "name": f"Buyer {n}"},
            },
            key=f"burst-{n}",
        )
        for n in range(CLIENTS)
    ]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(processes, port)

    answered = threading.Semaphore(0)

    def first_try(client: Client) -> None:
        try:
            _post(base, client)
        except httpx.TransportError:
            client.died = True
        answered.release()

    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(first_try, c) for c in clients]
        for _ in range(8):  # a few orders through, the rest in flight or queued: kill
            assert answered.acquire(timeout=120)
        processes.kill(server)
        for f in futures:
            f.result(timeout=120)

    died = [c for c in clients if c.died]
    assert died, "the kill should have cut some requests"
    assert all(c.status in (201, 409) for c in clients if not c.died), [
        (c.status, c.answer) for c in clients if not c.died
    ]

    _serve(processes, port)
    with committed_db.bind.begin() as conn:  # simulates the in-progress records' minute
        conn.execute(
            text(
                "UPDATE idempotency_keys SET created_at = created_at - interval '61 seconds' "
                "WHERE status = 'in_progress'"
            )
        )
    for client in died:
        for _ in range(20):  # a retrying client: same key, same body
            try:
                _post(base, client)
            except httpx.TransportError:
                time.sleep(0.5)
                continue
            if client.answer and client.answer.get("code") == "idempotency_in_progress":
                time.sleep(0.5)
                continue
            break
        assert client.status in (201, 409), (client.n, client.status, client.answer)

    # Each client: one definite answer, and at most the one order it was answered with.
    orders = {r["buyer_email"]: r for r in _rows(committed_db, "SELECT * FROM orders")}
    per_email = _rows(
        committed_db, "SELECT buyer_email, count(*) AS n FROM orders GROUP BY buyer_email"
    )
    assert all(r["n"] == 1 for r in per_email), per_email
    for c in clients:
        order = orders.get(f"buyer{c.n}@example.com")
        assert c.answer is not None
        if c.status == 201:
            assert order is not None
            assert order["id"] == c.answer["id"]
        else:
            assert c.answer["code"] == "tier_sold_out", (c.n, c.answer)
            assert order is None, (c.n, c.answer)
    unanswered = _rows(
        committed_db,
        "SELECT o.id FROM orders o WHERE NOT EXISTS (SELECT 1 FROM idempotency_keys k "
        "WHERE k.status = 'done' AND k.response_body->>'id' = o.id)",
    )
    assert unanswered == []
    assert sum(c.status == 201 for c in clients) == len(orders) > 0

    # Counters equal the rows; nothing oversold.
    for tier in _rows(
        committed_db,
        "SELECT t.id, t.capacity, t.held_count, t.sold_count, "
        "coalesce(sum(i.quantity) FILTER (WHERE o.status = 'pending'), 0) AS held_rows, "
        "coalesce(sum(i.quantity) FILTER (WHERE o.status = 'paid'), 0) AS sold_rows "
        "FROM ticket_tiers t LEFT JOIN order_items i ON i.tier_id = t.id "
        "LEFT JOIN orders o ON o.id = i.order_id GROUP BY t.id",
    ):
        assert (tier["held_count"], tier["sold_count"]) == (
            tier["held_rows"],
            tier["sold_rows"],
        ), tier
        assert tier["held_count"] + tier["sold_count"] <= tier["capacity"]
    sold_out = [c for c in clients if c.status == 409]
    assert sold_out, "the burst asks for more than the capacity: some must be refused"

    # Payments and passes.
    assert (
        _rows(
            committed_db,
            "SELECT o.id FROM orders o WHERE o.total_amount > 0 AND NOT EXISTS "
            "(SELECT 1 FROM payments p WHERE p.order_id = o.id)",
        )
        == []
    )
    assert (
        _rows(
            committed_db,
            "SELECT o.id FROM orders o JOIN order_items i ON i.order_id = o.id "
            "WHERE o.status = 'paid' GROUP BY o.id HAVING sum(i.quantity) <> "
            "(SELECT count(*) FROM passes p WHERE p.order_id = o.id AND p.status = 'valid')",
        )
        == []
    )
    statuses = {r["status"] for r in orders.values()}
    assert statuses <= {"pending", "paid"}, statuses
    assert "paid" in statuses
    assert "pending" in statuses
