"""On-sale: `POST /api/v1/orders` over HTTP next to the same SQL run directly, same run.

    .venv/bin/python bench/onsale.py [--pg postgresql://root@127.0.0.1:5432/postgres]
        [--duration 6] [--repeats 3] [--clients 32] [--workers 2]

What it does, on PostgreSQL (a scratch database `admitone_bench_onsale`, created afresh):
  * seeds one published event with one hot tier and 50 other tiers (capacity 10^9, a paid
    price so every order is `pending` with a dev-provider payment: the real on-sale path);
  * starts `uvicorn --factory admitone.app:factory` in its own process group (the in-process
    worker off, access log off) and drives it with 32 keep-alive connections from an asyncio
    client in this process; each request is a new anonymous buyer ordering 1-4 tickets of
    the hot tier, or of one of the 50 tiers at random;
  * runs the baseline: 32 threads with psycopg (auto-prepared statements) issuing the same
    statements the route issues (the SQL was read from SQLAlchemy's log): SELECT event,
    SELECT tiers, INSERT order, INSERT history, INSERT item, buyer-count upsert, INSERT
    payment, the conditional UPDATE last, COMMIT; then the checkout-URL UPDATE in its own
    transaction, as the route records it after asking the provider;
  * interleaves baseline and app per repeat and mode and reports medians: orders/s, p50/p99
    latency, app CPU per order (user+system CPU of the uvicorn processes from /proc divided
    by orders), the ratio app / baseline, and checks that no tier is oversold and that the
    counters equal the order rows after every run.
Only loopback is used; the server is stopped by its process-group id.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from harness import (
    create_database,
    libpq,
    proc_tree_cpu,
    quiesce,
    start_server,
    stop_all_on_sigterm,
    stop_server,
)

ROOT = Path(__file__).resolve().parents[1]
DB_NAME = "admitone_bench_onsale"
PORT = int(os.environ.get("BENCH_PORT", "8741"))


# --- database -------------------------------------------------------------------------------


def seed(url: str) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from admitone.core.db import Database, make_engine
    from tests.factories import make_event, make_organization, make_tier, make_user

    engine = make_engine(url)
    db = Database(engine)
    with db.session() as s:
        owner = make_user(s)
        org = make_organization(s, owner)
        event = make_event(s, org, currency="NGN", reservation_minutes=30)
        hot = make_tier(s, event, name="Hot", capacity=10**9, max_per_order=10)
        many = [make_tier(s, event, name=f"T{i}", capacity=10**9) for i in range(50)]
        ids = {
            "event_id": event.id,
            "organization_id": org.id,
            "hot": [hot.id],
            "many": [t.id for t in many],
        }
    engine.dispose()
    return ids


RESET = [
    "TRUNCATE order_buyer_counts, order_history, payments, order_items, orders, jobs CASCADE",
    "UPDATE ticket_tiers SET held_count = 0, sold_count = 0",
]


def reset(url: str) -> None:
    quiesce(url)
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for stmt in RESET:
            conn.execute(stmt)
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def check(url: str) -> dict[str, Any]:
    quiesce(url)
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute(
            "SELECT (SELECT coalesce(sum(held_count), 0) FROM ticket_tiers), "
            "(SELECT coalesce(sum(quantity), 0) FROM order_items), "
            "(SELECT count(*) FROM ticket_tiers WHERE held_count + sold_count > capacity)"
        ).fetchone()
    assert row is not None
    return {"counter_matches_items": row[0] == row[1], "oversold_tiers": row[2]}


# --- the raw-SQL baseline -------------------------------------------------------------------

Q_EVENT = (
    "SELECT id, organization_id, slug, title, status, timezone, starts_at, ends_at, "
    "reservation_minutes, currency FROM events WHERE id = %s"
)
Q_TIERS = (
    "SELECT id, event_id, name, price_amount, currency, capacity, held_count, sold_count, "
    "sales_start_at, sales_end_at, min_per_order, max_per_order, is_hidden, access_code_hash, "
    "is_paused FROM ticket_tiers WHERE id = ANY(%s) AND event_id = %s"
)
I_ORDER = (
    "INSERT INTO orders (id, event_id, buyer_user_id, buyer_email, buyer_name, status, "
    "total_amount, refunded_amount, currency, expires_at, paid_at, closed_at, updated_at, "
    "created_at) VALUES (%s, %s, NULL, %s, NULL, 'pending', %s, 0, 'NGN', "
    "now() + interval '30 minutes', NULL, NULL, now(), now())"
)
I_HISTORY = (
    "INSERT INTO order_history (id, order_id, action, from_status, to_status, actor_user_id, "
    "data, created_at) VALUES (%s, %s, 'orders.placed', NULL, 'pending', NULL, %s, now())"
)
I_ITEM = (
    "INSERT INTO order_items (id, order_id, tier_id, addon_id, name, quantity, unit_amount, "
    "currency, refunded_quantity, attendees, created_at) "
    "VALUES (%s, %s, %s, NULL, 'T', %s, %s, 'NGN', 0, NULL, now())"
)
U_BUYER = (
    "INSERT INTO order_buyer_counts (tier_id, buyer_key, quantity) VALUES (%s, %s, %s) "
    "ON CONFLICT (tier_id, buyer_key) DO UPDATE "
    "SET quantity = order_buyer_counts.quantity + excluded.quantity "
    "WHERE order_buyer_counts.quantity + excluded.quantity <= %s RETURNING quantity"
)
I_PAYMENT = (
    "INSERT INTO payments (id, order_id, provider, reference, status, amount, currency, "
    "checkout_url, provider_payment_id, paid_at, verified_at, failure_reason, updated_at, "
    "created_at) VALUES (%s, %s, 'dev', %s, 'pending', %s, 'NGN', NULL, NULL, NULL, NULL, "
    "NULL, now(), now())"
)
U_TIER = (
    "UPDATE ticket_tiers SET held_count = held_count + %s, updated_at = now() "
    "WHERE id = %s AND held_count + sold_count + %s <= capacity AND is_paused IS false "
    "AND (sales_start_at IS NULL OR sales_start_at <= now()) "
    "AND (sales_end_at IS NULL OR sales_end_at > now())"
)
U_CHECKOUT = (
    "UPDATE payments SET checkout_url = %s, provider_payment_id = %s, updated_at = now() "
    "WHERE id = %s"
)


def baseline(
    url: str, ids: dict[str, Any], tiers: list[str], clients: int, seconds: float
) -> dict[str, Any]:
    from ulid import ULID

    stop = time.perf_counter() + seconds
    lats: list[float] = []
    errors = [0]
    lock = threading.Lock()
    gate = threading.Barrier(clients)

    def client(n: int) -> None:
        mine: list[float] = []
        try:
            conn = psycopg.connect(libpq(url))
        except psycopg.OperationalError:
            gate.abort()  # never leave the others waiting for a client that cannot start
            raise
        with conn:
            try:
                gate.wait()
            except threading.BrokenBarrierError:
                with lock:
                    errors[0] += 1
                return
            i = 0
            while time.perf_counter() < stop:
                i += 1
                tier = random.choice(tiers)
                k = random.randint(1, 4)
                oid, pid = f"ord_{ULID()}", f"pay_{ULID()}"
                t0 = time.perf_counter()
                try:
                    with conn.transaction():
                        conn.execute(Q_EVENT, (ids["event_id"],)).fetchone()
                        conn.execute(Q_TIERS, ([tier], ids["event_id"])).fetchall()
                        conn.execute(
                            I_ORDER, (oid, ids["event_id"], f"b{n}-{i}@x.test", k * 500000)
                        )
                        conn.execute(
                            I_HISTORY, (f"ohe_{ULID()}", oid, json.dumps({"total": k * 500000}))
                        )
                        conn.execute(I_ITEM, (f"oit_{ULID()}", oid, tier, k, 500000))
                        conn.execute(U_BUYER, (tier, f"email:b{n}-{i}@x.test", k, 10)).fetchone()
                        conn.execute(I_PAYMENT, (pid, oid, pid.replace("_", "-"), k * 500000))
                        if conn.execute(U_TIER, (k, tier, k)).rowcount != 1:
                            raise RuntimeError("sold out")
                    with conn.transaction():
                        conn.execute(U_CHECKOUT, (f"http://x/{pid}", f"devpay_{pid}", pid))
                except Exception:
                    with lock:
                        errors[0] += 1
                    continue
                mine.append(time.perf_counter() - t0)
        with lock:
            lats.extend(mine)

    cpu0 = time.process_time()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return summarize(lats, wall, errors[0], cpu)


# --- the app over HTTP ----------------------------------------------------------------------


async def _http_client(
    n: int,
    ids: dict[str, Any],
    tiers: list[str],
    stop: float,
    lats: list[float],
    status: dict[int, int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    i = 0
    try:
        while time.perf_counter() < stop:
            i += 1
            body = json.dumps(
                {
                    "event_id": ids["event_id"],
                    "items": [{"tier_id": random.choice(tiers), "quantity": random.randint(1, 4)}],
                    "buyer": {"email": f"h{n}-{i}-{random.getrandbits(32)}@example.com"},
                }
            ).encode()
            req = (
                b"POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            code = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if code == 201:
                lats.append(time.perf_counter() - t0)
            status[code] = status.get(code, 0) + 1
    finally:
        writer.close()


def http_load(
    ids: dict[str, Any], tiers: list[str], clients: int, seconds: float, server_pid: int
) -> dict[str, Any]:
    lats: list[float] = []
    status: dict[int, int] = {}

    async def main() -> float:
        stop = time.perf_counter() + seconds
        t0 = time.perf_counter()
        await asyncio.gather(
            *(_http_client(n, ids, tiers, stop, lats, status) for n in range(clients))
        )
        return time.perf_counter() - t0

    cpu0 = proc_tree_cpu(server_pid)
    wall = asyncio.run(main())
    cpu = proc_tree_cpu(server_pid) - cpu0
    out = summarize(lats, wall, sum(v for k, v in status.items() if k != 201), cpu)
    out["status"] = status
    return out


def summarize(lats: list[float], wall: float, errors: int, cpu: float) -> dict[str, Any]:
    lats.sort()
    n = len(lats)
    return {
        "orders": n,
        "orders_per_s": n / wall if wall else 0.0,
        "p50_ms": lats[n // 2] * 1000 if n else None,
        "p99_ms": lats[min(n - 1, int(n * 0.99))] * 1000 if n else None,
        "errors": errors,
        "cpu_ms_per_order": cpu * 1000 / n if n else None,
    }


# --- driver ---------------------------------------------------------------------------------


def set_webhook_endpoint(url: str, organization_id: str, enabled: bool) -> None:
    """An enabled endpoint subscribed to every event for the organization, or none. The
    servers' cached subscriptions (core.outbox) last 5 s: the caller waits them out."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("DELETE FROM webhook_endpoints")
        if enabled:
            conn.execute(
                "INSERT INTO webhook_endpoints (id, organization_id, url, events, status,"
                " secret_sealed, created_at, updated_at) VALUES (%s, %s, %s, %s, 'enabled',"
                " 'not-used', now(), now())",
                (
                    "whe_01BENCHAAAAAAAAAAAAAAAAAA",
                    organization_id,
                    "https://hooks.example.com/x",
                    json.dumps(["*"]),
                ),
            )


def main() -> None:
    stop_all_on_sigterm()
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/postgres")
    ap.add_argument("--duration", type=float, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=None, help="write the JSON result here too")
    ap.add_argument(
        "--webhooks",
        action="store_true",
        help="also run the app with an enabled webhook endpoint for the organization "
        "(`app+webhooks`: every order emits `order.placed`)",
    )
    args = ap.parse_args()

    url = create_database(args.pg, DB_NAME)
    ids = seed(url)
    modes = {"hot": ids["hot"], "50tiers": ids["many"]}
    raw: dict[tuple[str, str], list[dict[str, Any]]] = {}
    var_dir = tempfile.mkdtemp(prefix="onsale-")
    try:
        for rep in range(args.repeats):
            # The baseline runs while no server holds pooled connections (PostgreSQL's
            # connection limit is shared with whatever else runs on the box).
            for mode, tiers in modes.items():
                reset(url)
                r = baseline(url, ids, tiers, args.clients, args.duration)
                r.update(check(url))
                raw.setdefault(("baseline", mode), []).append(r)
                print(rep, "baseline", mode, json.dumps(r), flush=True)
            proc = start_server(url, args.workers, var_dir, PORT)
            try:
                for mode, tiers in modes.items():
                    whos = ["app", "app+webhooks"] if args.webhooks else ["app"]
                    if rep % 2:
                        whos.reverse()
                    for who in whos:
                        if args.webhooks:
                            hooked = who == "app+webhooks"
                            set_webhook_endpoint(url, ids["organization_id"], hooked)
                            time.sleep(5.5)  # the servers' cached subscriptions expire
                        reset(url)
                        http_load(ids, tiers, args.clients, 1.0, proc.pid)  # warm-up
                        r = http_load(ids, tiers, args.clients, args.duration, proc.pid)
                        r.update(check(url))
                        raw.setdefault((who, mode), []).append(r)
                        print(rep, who, mode, json.dumps(r), flush=True)
            finally:
                stop_server(proc)
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')

    def med(runs: list[dict[str, Any]], key: str) -> float | None:
        vals = [r[key] for r in runs if r[key] is not None]
        return round(statistics.median(vals), 2) if vals else None

    rows = []
    for (who, mode), runs in raw.items():
        base = med(raw[("baseline", mode)], "orders_per_s") or 1.0
        rows.append(
            {
                "who": who,
                "mode": mode,
                "orders_per_s": med(runs, "orders_per_s"),
                "runs": [round(r["orders_per_s"]) for r in runs],
                "p50_ms": med(runs, "p50_ms"),
                "p99_ms": med(runs, "p99_ms"),
                "cpu_ms_per_order": med(runs, "cpu_ms_per_order"),
                "errors": sum(r["errors"] for r in runs),
                "oversold_tiers": sum(r["oversold_tiers"] for r in runs),
                "counters_match": all(r["counter_matches_items"] for r in runs),
                "ratio_to_baseline": round((med(runs, "orders_per_s") or 0) / base, 3),
            }
        )
    result = {
        "clients": args.clients,
        "workers": args.workers,
        "duration_s": args.duration,
        "repeats": args.repeats,
        "rows": rows,
    }
    if args.webhooks:
        result["webhooks_cpu_ratio"] = {
            mode: round(
                (med(raw[("app+webhooks", mode)], "cpu_ms_per_order") or 0)
                / (med(raw[("app", mode)], "cpu_ms_per_order") or 1),
                3,
            )
            for mode in modes
        }
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
