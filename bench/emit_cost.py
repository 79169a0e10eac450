"""What emitting webhook events adds to an order's CPU, in process: the place-and-pay
transaction of `POST /api/v1/orders` (`checkout.placing._place`: rules, rows, payment,
reservation, the rendered order, `order.placed` and the team's notification) with an
enabled endpoint for the organization and without one, same run; and the emit call alone
(`outbox.emit_event` with the rendered order in hand, one job-row INSERT) timed in a loop,
as a share of the order without an endpoint.

    .venv/bin/python bench/emit_cost.py [--orders 300] [--rounds 8]
        [--pg postgresql://root@127.0.0.1:5432/test]

Thread CPU time (`time.thread_time`) per order, so the box's load (other processes) counts
far less than in wall-clock figures; rounds alternate the two modes and the medians are
compared. Complements `bench/onsale.py --webhooks` (over HTTP, app CPU from /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from admitone import domains
from admitone.checkout import placing
from admitone.core import outbox
from admitone.core.db import Database, make_engine, normalize_url
from admitone.core.jobs import Job
from admitone.migrate import upgrade
from admitone.orders.schemas import OrderIn
from admitone.settings import Settings
from admitone.webhooks import service
from admitone.webhooks.models import WebhookEndpoint
from tests.factories import make_event, make_organization, make_tier, make_user


def _database(pg: str | None, tmp: Path) -> tuple[str, Any]:
    if not pg:
        return f"sqlite:///{tmp / 'bench.db'}", None
    admin_url = make_url(normalize_url(pg))
    name = f"admitone_bench_emit_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=300, help="orders per round")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--pg", default=None)
    args = ap.parse_args()
    domains.load_models()
    domains.load_jobs()
    with tempfile.TemporaryDirectory() as tmp:
        db_url, drop = _database(args.pg, Path(tmp))
        engine = make_engine(db_url)
        try:
            upgrade(engine)
            db = Database(engine)
            settings = Settings(
                env="dev",
                var_dir=Path(tmp),
                secret_key=SecretStr("bench-secret-key-0123456789abcdef"),
                cron_secret=SecretStr("bench"),
                run_worker_in_process=False,
            )
            with db.session() as s:
                owner = make_user(s)
                org = make_organization(s, owner)
                event = make_event(s, org, currency="NGN", reservation_minutes=30)
                tier = make_tier(s, event, capacity=10**9, max_per_order=10)
                org_id, event_id, tier_id, owner_id = org.id, event.id, tier.id, owner.id

            def body(i: int) -> OrderIn:
                return OrderIn.model_validate(
                    {
                        "event_id": event_id,
                        "items": [{"tier_id": tier_id, "quantity": 1 + i % 4}],
                        "buyer": {"email": f"b{i}@example.com", "name": "Ada Obi"},
                    }
                )

            def set_endpoint(on: bool) -> None:
                with db.session() as s:
                    s.execute(delete(WebhookEndpoint))
                    s.execute(delete(Job))
                    if on:
                        service.create_endpoint(
                            s,
                            settings,
                            owner_id,
                            org_id,
                            url="https://hooks.example.com/x",
                            events=["*"],
                            description=None,
                        )
                outbox.forget_subscriptions()

            def round_cpu(on: bool, start: int) -> float:
                set_endpoint(on)
                bodies = [body(start + i) for i in range(args.orders)]
                db.mutation(placing._place, settings, bodies[0], None, "dev", None)  # warm
                cpu = time.thread_time()
                for b in bodies[1:]:
                    db.mutation(placing._place, settings, b, None, "dev", None)
                return (time.thread_time() - cpu) * 1000 / (len(bodies) - 1)

            def emit_only(n: int, k: int) -> float:
                """What the producer adds per order when an endpoint wants it: the
                `order.placed` call with the rendered order in hand (a job-row INSERT)."""
                set_endpoint(True)
                view = db.mutation(placing._place, settings, body(900_000 + k), None, "dev", None)[
                    0
                ]
                view = {k: v for k, v in view.items() if k != "order_token"}

                def emit_n(session: Any) -> float:
                    outbox.emit_event(session, "order.placed", org_id, view)  # warm
                    cpu = time.thread_time()
                    for _ in range(n):
                        outbox.emit_event(session, "order.placed", org_id, view)
                    return (time.thread_time() - cpu) * 1000 / n

                return float(db.mutation(emit_n))

            emit_ms = [emit_only(args.orders, k) for k in range(3)]
            off: list[float] = []
            on: list[float] = []
            for r in range(args.rounds):
                modes = [False, True] if r % 2 == 0 else [True, False]
                for mode in modes:
                    (on if mode else off).append(round_cpu(mode, r * 10_000 + mode * 5_000))
            result = {
                "database": engine.dialect.name,
                "orders_per_round": args.orders,
                "cpu_ms_per_order_no_endpoint": round(statistics.median(off), 3),
                "cpu_ms_per_order_with_endpoint": round(statistics.median(on), 3),
                "added": round(statistics.median(on) / statistics.median(off) - 1, 4),
                "emit_call_cpu_ms": round(statistics.median(emit_ms), 4),
                "emit_call_share_of_order": round(
                    statistics.median(emit_ms) / statistics.median(off), 4
                ),
                "runs": {"none": [round(x, 3) for x in off], "endpoint": [round(x, 3) for x in on]},
                "load_average": os.getloadavg(),
            }
            print(json.dumps(result, indent=1))
        finally:
            engine.dispose()
            if drop:
                drop()


if __name__ == "__main__":
    main()
