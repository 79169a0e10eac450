"""Soak: mixed traffic at a steady rate for N minutes; resources must stay flat.

    .venv/bin/python bench/soak.py [--minutes 20] [--rate 12] [--pg postgresql://root@127.0.0.1:5432/postgres]

What it does, on PostgreSQL (a scratch database `admitone_soak_<pid>`, created afresh, dropped at
the end):
  * seeds a published event with a free tier and a paid tier (capacity 10^7), an organizer
    and a door-staff member (signed access tokens from a fixed signing key that the servers
    share through ADMITONE_AUTH__SIGNING_KEYS);
  * starts two `admitone serve --surface api --surface ops` processes on two ports
    (requests alternate between them; realtime over PostgreSQL so a stream sees the other
    process's writes; not `--workers 2`: on a loaded box uvicorn's 5 s child health check
    killed children still importing, over and over) and `admitone worker` (the devbox
    mail transport: ADMITONE_ENV=dev), each in its own process group on loopback;
  * sends requests at `--rate` per second from a pool of threads, each one of: browsing the
    public events list, a free order, a paid order approved through the
    dev provider's route, a scan of a pass bought earlier, an OTP sign-in (start, read the
    code from the dev mailbox, verify); one SSE listener stays on the event's check-in
    stats stream for the whole run (reconnecting if dropped);
  * every minute samples the server processes' RSS and open file descriptors (/proc), the
    database's connections (pg_stat_activity) and the minute's request count, p99 latency
    and 5xx count;
  * reports the growth of each resource from the end of the warm-up (the first minute, or
    the first quarter of longer runs) to the end (target < 10 %), the 5xx count (target 0),
    and checks the invariants in SQL: counters equal the order rows, nothing oversold,
    every paid-tier order has its payment, every paid order its passes.
Bounded: the run ends after `--minutes`; every process it started is stopped by its
process-group id, also on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from harness import STARTED, create_database, libpq, stop_all_on_sigterm, stop_server

ROOT = Path(__file__).resolve().parents[1]
DB_NAME = f"admitone_soak_{os.getpid()}"
CODE = re.compile(r"\b(\d{6})\b")
ADMITONE = str(Path(sys.executable).with_name("admitone"))


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    errors_5xx: int = 0
    other: dict[str, int] = field(default_factory=dict)  # "429 /otp/start", transport errors
    total: int = 0
    total_5xx: int = 0
    sse_events: int = 0
    passes: list[str] = field(default_factory=list)

    def record(self, what: str, status: int | None, seconds: float) -> None:
        with self.lock:
            self.requests += 1
            self.total += 1
            self.latencies.append(seconds)
            if status is None or status >= 500:
                self.errors_5xx += 1
                self.total_5xx += 1
            if status is None or status >= 400:
                key = f"{status} {what}"
                self.other[key] = self.other.get(key, 0) + 1

    def minute(self) -> tuple[int, float, int]:
        with self.lock:
            lat, n, bad = sorted(self.latencies), self.requests, self.errors_5xx
            self.latencies, self.requests, self.errors_5xx = [], 0, 0
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0.0
        return n, p99, bad


def seed(url: str, pem: str, secret: str, base_url: str) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from pydantic import SecretStr

    from admitone.core.db import Database, make_engine
    from admitone.settings import AuthSettings, Settings
    from tests.factories import (
        add_team_member,
        auth_headers,
        make_event,
        make_organization,
        make_tier,
        make_user,
    )

    settings = Settings(
        env="dev",
        base_url=base_url,  # the tokens' issuer: the servers' ADMITONE_BASE_URL
        secret_key=SecretStr(secret),
        # The door staff's token outlives the run (a 15-minute token turned every scan
        # after it into a 401); the servers verify its expiry, whatever it is.
        auth=AuthSettings(signing_keys=[SecretStr(pem)], access_token_minutes=24 * 60),
    )
    engine = make_engine(url)
    with Database(engine).session() as s:
        owner = make_user(s)
        org = make_organization(s, owner)
        event = make_event(s, org, reservation_minutes=30)
        free = make_tier(s, event, name="Free", price_amount=0, capacity=10**7)
        paid = make_tier(s, event, name="Paid", price_amount=1500, capacity=10**7)
        staff = make_user(s)
        add_team_member(s, org, staff, "door_staff")
        ids = {
            "event_id": event.id,
            "slug": event.slug,
            "free": free.id,
            "paid": paid.id,
            "staff": auth_headers(s, settings, staff),
        }
    engine.dispose()
    return ids


class Traffic:
    """Requests alternate between the API processes (a load balancer's round robin)."""

    def __init__(self, bases: list[str], ids: dict[str, Any], stats: Stats) -> None:
        self.bases, self.ids, self.stats = bases, ids, stats
        self.clients = [httpx.Client(base_url=b, timeout=30) for b in bases]
        self.n = 0
        self.lock = threading.Lock()

    def call(self, what: str, method: str, url: str, **kw: Any) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            resp = random.choice(self.clients).request(method, url, **kw)
        except httpx.HTTPError:
            self.stats.record(what, None, time.perf_counter() - started)
            return None
        self.stats.record(what, resp.status_code, time.perf_counter() - started)
        return resp

    def _next(self) -> int:
        with self.lock:
            self.n += 1
            return self.n

    def browse(self) -> None:
        self.call("/public/events", "GET", "/api/v1/public/events")

    def order(self, tier: str) -> dict[str, Any] | None:
        n = self._next()
        body = {
            "event_id": self.ids["event_id"],
            "items": [{"tier_id": self.ids[tier], "quantity": 1}],
            "buyer": {"email": f"soak{n}@example.com", "name": f"Soak {n}"},
        }
        resp = self.call(f"/orders {tier}", "POST", "/api/v1/orders", json=body,
                         headers={"Idempotency-Key": f"soak-{n}"})  # fmt: skip
        return resp.json() if resp is not None and resp.status_code == 201 else None

    def free_order(self) -> None:
        order = self.order("free")
        if order:
            with self.stats.lock:
                self.stats.passes.extend(p["qr"] for p in order.get("passes", []))

    def paid_order(self) -> None:
        order = self.order("paid")
        if order and order.get("payment"):
            ref = order["payment"]["reference"]
            self.call("dev approve", "POST", f"/support/v1/payments/dev/{ref}/approve")

    def scan(self) -> None:
        with self.stats.lock:
            qr = self.stats.passes.pop() if self.stats.passes else None
        if qr is None:
            return self.free_order()
        url = f"/api/v1/events/{self.ids['event_id']}/checkins"
        self.call("/checkins", "POST", url, json={"code": qr}, headers=self.ids["staff"])
        return None

    def sign_in(self) -> None:
        n = self._next()
        email = f"signin{n}@example.com"
        # Each sign-in from its own client address (a documentation-range address in
        # X-Forwarded-For, which uvicorn trusts from loopback): the per-address limit of
        # code e-mails (30 an hour) is for one client, not for a whole soak's population.
        forwarded = {"X-Forwarded-For": f"2001:db8::{n:x}"}
        resp = self.call("/otp/start", "POST", "/api/v1/auth/otp/start",
                         json={"email": email}, headers=forwarded)  # fmt: skip
        if resp is None or resp.status_code != 202:  # a 429 is counted, and no mail comes
            return
        for _ in range(60):  # the worker sends it; bounded wait
            resp = self.call("/dev/mailbox", "GET", "/dev/mailbox", params={"to": email})
            items = resp.json().get("items", []) if resp is not None and resp.is_success else []
            match = CODE.search(items[0]["text"]) if items else None
            if match:
                self.call("/otp/verify", "POST", "/api/v1/auth/otp/verify",
                          json={"email": email, "code": match[1]}, headers=forwarded)  # fmt: skip
                return
            time.sleep(0.5)
        self.stats.record("otp code never arrived", None, 0.0)

    def listen(self, stop: threading.Event) -> None:
        url = f"{self.bases[0]}/api/v1/events/{self.ids['event_id']}/checkins/stats/stream"
        while not stop.is_set():
            try:
                with (
                    httpx.Client(timeout=httpx.Timeout(10, read=30)) as c,
                    c.stream("GET", url, headers=self.ids["staff"]) as stream,
                ):
                    for line in stream.iter_lines():
                        if line.startswith("data:"):
                            with self.stats.lock:
                                self.stats.sse_events += 1
                        if stop.is_set():
                            return
            except httpx.HTTPError:
                time.sleep(0.5)

    MIX = [("browse", 30), ("free_order", 20), ("paid_order", 15), ("scan", 25), ("sign_in", 3)]

    def pick(self) -> Any:
        names, weights = zip(*self.MIX, strict=True)
        return getattr(self, random.choices(names, weights)[0])


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_and_fds(roots: list[int]) -> tuple[float, int]:
    rss_kb, fds = 0, 0
    for pid in [p for r in roots for p in process_tree(r)]:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss_kb += int(line.split()[1])
            fds += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    return rss_kb / 1024, fds


def db_connections(url: str) -> int | None:
    """None when the sample itself cannot connect (a shared server at its
    `max_connections`): a missing sample, not the end of the run."""
    try:
        with psycopg.connect(libpq(url), autocommit=True, connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            ).fetchone()
    except psycopg.OperationalError:
        return None
    return int(row[0]) if row else 0


INVARIANTS = {
    "counters equal the order rows": """
        SELECT t.name FROM ticket_tiers t
        LEFT JOIN order_items i ON i.tier_id = t.id LEFT JOIN orders o ON o.id = i.order_id
        GROUP BY t.id HAVING t.held_count <>
            coalesce(sum(i.quantity) FILTER (WHERE o.status = 'pending'), 0)
        OR t.sold_count <> coalesce(sum(i.quantity) FILTER (WHERE o.status = 'paid'), 0)""",
    "nothing oversold": "SELECT name FROM ticket_tiers WHERE held_count + sold_count > capacity",
    "every priced order has its payment": """
        SELECT o.id FROM orders o WHERE o.total_amount > 0
        AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id)""",
    "every paid order has its passes": """
        SELECT o.id FROM orders o JOIN order_items i ON i.order_id = o.id
        WHERE o.status = 'paid' GROUP BY o.id HAVING sum(i.quantity) <>
            (SELECT count(*) FROM passes p WHERE p.order_id = o.id AND p.status = 'valid')""",
    "one order per idempotency key": """
        SELECT response_body->>'id' FROM idempotency_keys WHERE status = 'done'
        GROUP BY 1 HAVING count(*) > 1""",
}


def check_invariants(url: str) -> dict[str, list[Any]]:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in INVARIANTS.items()}


def growth(first: float, last: float) -> float:
    return (last - first) / first * 100 if first else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--rate", type=float, default=12, help="requests started per second")
    ap.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/postgres")
    ap.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8761")))
    args = ap.parse_args()
    stop_all_on_sigterm()
    sys.path.insert(0, str(ROOT))
    from admitone.settings import new_signing_key_pem

    pem, secret = new_signing_key_pem(), "soak-secret-key-0123456789abcdef0123"
    url = create_database(args.pg, DB_NAME)
    ids = seed(url, pem, secret, f"http://127.0.0.1:{args.port}")
    var = Path(os.environ.get("TMPDIR", "/tmp")) / f"admitone-soak-{os.getpid()}"
    env = dict(
        {k: v for k, v in os.environ.items() if not k.startswith("ADMITONE_")},
        ADMITONE_ENV="dev",
        ADMITONE_DATABASE_URL=url,
        ADMITONE_SECRET_KEY=secret,
        ADMITONE_AUTH__SIGNING_KEYS=json.dumps([pem]),
        ADMITONE_VAR_DIR=str(var),
        ADMITONE_RUN_WORKER_IN_PROCESS="false",
        ADMITONE_REALTIME_BACKEND="postgres",
        ADMITONE_BASE_URL=f"http://127.0.0.1:{args.port}",
    )
    logs = (var.parent / f"admitone-soak-{os.getpid()}.log").open("wb")
    ports = [args.port, args.port + 1]
    procs = [
        subprocess.Popen([ADMITONE, "serve", "--surface", "api", "--surface", "ops",
                          "--port", str(port), "--graceful-seconds", "2"],
                         env=env, start_new_session=True, stdout=logs, stderr=logs)
        for port in ports
    ] + [subprocess.Popen([ADMITONE, "worker"], env=env, start_new_session=True,
                          stdout=logs, stderr=logs)]  # fmt: skip
    STARTED.extend(procs)
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    stats, stop = Stats(), threading.Event()
    samples: list[dict[str, Any]] = []
    try:
        for base, proc in zip(bases, procs, strict=False):
            for _ in range(1200):  # bounded: 120 s to start on a loaded box
                try:
                    if httpx.get(f"{base}/health/ready", timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited; see {logs.name}")
                time.sleep(0.1)
        traffic = Traffic(bases, ids, stats)
        listener = threading.Thread(target=traffic.listen, args=(stop,), daemon=True)
        listener.start()
        end = time.monotonic() + args.minutes * 60
        next_sample = time.monotonic() + 60
        interval = 1 / args.rate
        with ThreadPoolExecutor(max_workers=16) as pool:
            tick = time.monotonic()
            while time.monotonic() < end:
                pool.submit(traffic.pick())
                tick += interval
                now = time.monotonic()
                if now >= next_sample:
                    n, p99, bad = stats.minute()
                    rss, fds = rss_and_fds([procs[0].pid, procs[1].pid])
                    sample = {"minute": len(samples) + 1, "requests": n,
                              "p99_ms": round(p99 * 1000, 1), "5xx": bad,
                              "rss_mb": round(rss, 1), "fds": fds,
                              "db_conns": db_connections(url),
                              "load1": round(os.getloadavg()[0], 2)}  # fmt: skip
                    samples.append(sample)
                    print(json.dumps(sample), flush=True)
                    next_sample += 60
                time.sleep(max(0.0, tick - time.monotonic()))
            stop.set()
        if not samples or samples[-1]["minute"] < args.minutes:  # the last (partial) minute
            n, p99, bad = stats.minute()
            rss, fds = rss_and_fds([procs[0].pid, procs[1].pid])
            samples.append({"minute": len(samples) + 1, "requests": n,
                            "p99_ms": round(p99 * 1000, 1), "5xx": bad,
                            "rss_mb": round(rss, 1), "fds": fds,
                            "db_conns": db_connections(url),
                            "load1": round(os.getloadavg()[0], 2)})  # fmt: skip
            print(json.dumps(samples[-1]), flush=True)
        listener.join(35)
        invariants = check_invariants(url)
    finally:
        stop.set()
        for p in procs:
            stop_server(p)
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    warm = max(1, len(samples) // 4)
    base_s, last = samples[warm - 1], samples[-1]
    report = {
        "minutes": args.minutes,
        "rate_per_s": args.rate,
        "requests": stats.total,
        "5xx_or_transport_errors": stats.total_5xx,
        "errors_by_kind": stats.other,
        "sse_events": stats.sse_events,
        "p99_ms_median_after_warmup": statistics.median(s["p99_ms"] for s in samples[warm:])
        if len(samples) > warm
        else None,
        "growth_after_warmup_pct": {
            k: round(growth(base_s[k], last[k]), 1)
            for k in ("rss_mb", "fds", "db_conns", "p99_ms")
            if base_s[k] is not None and last[k] is not None
        },
        "invariants_violated": {k: v for k, v in invariants.items() if v},
    }
    print(json.dumps(report, indent=2, default=str))
    ok = stats.total_5xx == 0 and not report["invariants_violated"]
    ok = ok and all(g < 10 for g in report["growth_after_warmup_pct"].values() if g is not None)
    return 0 if ok else 1


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    raise SystemExit(main())
