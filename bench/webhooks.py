"""Webhook deliveries per second through one worker, next to a bare httpx loop.

    .venv/bin/python bench/webhooks.py [--events 400] [--repeats 3]
        [--pg postgresql://root@127.0.0.1:5432/test]

In one run, on SQLite (a temporary file) or PostgreSQL (a scratch database):
  * a local receiver (stdlib ThreadingHTTPServer, HTTP/1.1 keep-alive) on a random loopback
    port answers 200 to every POST;
  * `app`: N `order.paid` messages stored with their deliveries to one endpoint (what the
    `webhooks.emit` jobs do; not timed), then one worker (`jobs.drain` running the
    endpoint's `webhooks.deliver` job: per batch of 25, claim the due deliveries, unseal the
    secret, then per delivery sign, resolve and check the address, POST; record every
    status and timing in one transaction) delivers all N;
  * `bare`: one `httpx.Client` posting the same N bodies, each signed (Standard Webhooks
    HMAC) just before sending, to the same receiver; nothing recorded.
Repeats interleave the two and report medians, the ratio app/bare (target >= 0.5), the
median of each pair's ratio (steadier on a loaded box), and this process's CPU time per
delivery (worker and receiver threads; PostgreSQL's own CPU is not counted).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from ulid import ULID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from admitone import domains
from admitone.core import jobs
from admitone.core.clock import utcnow
from admitone.core.db import Database, make_engine, normalize_url
from admitone.migrate import upgrade
from admitone.settings import Settings
from admitone.webhooks import signing
from admitone.webhooks.delivery import emit
from admitone.webhooks.models import WebhookDelivery
from tests.factories import make_organization, make_user


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        return None


def _receiver() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hooks"


def _database(pg: str | None, tmp: Path) -> tuple[str, Any]:
    if not pg:
        return f"sqlite:///{tmp / 'bench.db'}", None
    admin_url = make_url(normalize_url(pg))
    name = f"admitone_bench_webhooks_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


def _order(i: int) -> dict[str, Any]:
    return {
        "id": f"ord_{i:026d}",
        "status": "paid",
        "total": {"amount": 500_000, "currency": "NGN"},
        "buyer": {"name": "Ada Obi", "email": "ada@example.com"},
        "items": [{"tier_id": "tir_01JD3AAAAAAAAAAAAAAAAAAAAA", "quantity": 2}],
    }


def run_app(db: Database, settings: Settings, org_id: str, n: int) -> tuple[float, float]:
    created = utcnow().isoformat()

    def emit_all(session: Any) -> None:
        # What the `webhooks.emit` jobs do (not timed): the messages and their deliveries.
        for i in range(n):
            args = {"id": f"msg_{ULID()}", "type": "order.paid", "organization_id": org_id}
            emit(session, {**args, "created_at": created, "data": _order(i)})

    db.mutation(emit_all)
    started, cpu = time.perf_counter(), time.process_time()
    jobs.drain(db, settings, worker_id="bench", limit=50, max_rounds=10_000)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    done = db.query(
        lambda s: s.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status == "succeeded")
        )
    )
    assert done is not None, "no deliveries"
    assert done % n == 0, f"{done} deliveries succeeded"
    return n / elapsed, cpu * 1000 / n


def run_bare(url: str, secret: str, n: int) -> tuple[float, float]:
    bodies = [
        json.dumps(
            {"id": f"msg_{i}", "type": "order.paid", "created_at": "x", "data": _order(i)},
            separators=(",", ":"),
        ).encode()
        for i in range(n)
    ]
    started, cpu = time.perf_counter(), time.process_time()
    with httpx.Client() as client:
        for i, body in enumerate(bodies):
            ts = int(time.time())
            r = client.post(
                url,
                content=body,
                headers={
                    "content-type": "application/json",
                    "webhook-id": f"msg_{i}",
                    "webhook-timestamp": str(ts),
                    "webhook-signature": signing.signature(secret, f"msg_{i}", ts, body),
                },
            )
            r.read()
            assert r.status_code == 200
    return n / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pg", default=None)
    args = parser.parse_args()
    domains.load_models()
    domains.load_jobs()
    server, url = _receiver()
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
            from admitone.webhooks import service

            with db.session() as s:
                owner = make_user(s)
                org = make_organization(s, owner)
                made = service.create_endpoint(
                    s, settings, owner.id, org.id, url=url, events=["*"], description=None
                )
                org_id, secret = org.id, made.secret
            app_rates, bare_rates, app_cpu, bare_cpu = [], [], [], []
            for _ in range(args.repeats):
                rate, cpu = run_bare(url, secret, args.events)
                bare_rates.append(rate)
                bare_cpu.append(cpu)
                rate, cpu = run_app(db, settings, org_id, args.events)
                app_rates.append(rate)
                app_cpu.append(cpu)
            app, bare = statistics.median(app_rates), statistics.median(bare_rates)
            ratios = [a / b for a, b in zip(app_rates, bare_rates, strict=True)]
            print(
                json.dumps(
                    {
                        "database": engine.dialect.name,
                        "events": args.events,
                        "app_deliveries_per_s": round(app, 1),
                        "bare_httpx_per_s": round(bare, 1),
                        "ratio": round(app / bare, 3),
                        "ratio_per_pair_median": round(statistics.median(ratios), 3),
                        # CPU of this process (worker + receiver threads; not PostgreSQL's)
                        "app_cpu_ms_per_delivery": round(statistics.median(app_cpu), 3),
                        "bare_cpu_ms_per_post": round(statistics.median(bare_cpu), 3),
                        "runs": {
                            "app": [round(x, 1) for x in app_rates],
                            "bare": [round(x, 1) for x in bare_rates],
                        },
                    },
                    indent=2,
                )
            )
        finally:
            engine.dispose()
            server.shutdown()
            if drop:
                drop()


if __name__ == "__main__":
    main()
