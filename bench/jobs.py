"""Job queue throughput and the cost of scheduling inside a mutation, next to bare SQL.

    .venv/bin/python bench/jobs.py [--jobs 5000] [--pg postgresql://root@127.0.0.1:5432/test]

For PostgreSQL and SQLite, in one run:
  * drain: N no-op jobs through one worker (`claim` batches of 50 + `run_claimed`), next to a
    bare batched `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 50)` +
    `UPDATE ... SET status='done'` loop on a bare table with the same rows;
  * schedule: a one-row mutation through `Database.mutation` with and without
    `jobs.schedule(...)` inside, next to a bare one-row INSERT transaction.
Prints JSON; ratios are what to compare (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from admitone.core import jobs
from admitone.core.db import Database, make_engine, normalize_url
from admitone.core.ids import UserId
from admitone.domains import load_models
from admitone.migrate import upgrade
from admitone.users.models import User


@jobs.job("bench.noop")
def _noop(ctx: jobs.JobContext, **args: Any) -> None:
    return None


def _bare_drain(db: Database, n: int, batch: int = 50) -> float:
    engine = db.bind
    pg = db.dialect == "postgresql"
    with engine.begin() as conn:  # type: ignore[union-attr]
        conn.execute(text("DROP TABLE IF EXISTS bare_jobs"))
        conn.execute(
            text(
                "CREATE TABLE bare_jobs (id varchar(32) primary key, status varchar(10), "
                "run_at timestamp, attempts int default 0)"
            )
        )
        conn.execute(text("CREATE INDEX ix_bare_due ON bare_jobs (status, run_at)"))
        conn.execute(
            text("INSERT INTO bare_jobs (id, status, run_at) VALUES (:id, 'queued', :t)"),
            [{"id": uuid.uuid4().hex, "t": "2026-01-01"} for _ in range(n)],
        )
    lock = " FOR UPDATE SKIP LOCKED" if pg else ""
    claim = text(
        "UPDATE bare_jobs SET status='running', attempts=attempts+1 WHERE id IN "
        f"(SELECT id FROM bare_jobs WHERE status='queued' ORDER BY run_at LIMIT {batch}{lock}) "
        "RETURNING id"
    )
    write = engine.execution_options(admitone_write=True)  # type: ignore[union-attr]
    start = time.perf_counter()
    done = 0
    while True:
        with write.begin() as conn:
            ids = [r[0] for r in conn.execute(claim)]
        if not ids:
            break
        with write.begin() as conn:
            conn.execute(
                text("UPDATE bare_jobs SET status='done' WHERE id = :id"), [{"id": i} for i in ids]
            ) if not pg else conn.execute(
                text("UPDATE bare_jobs SET status='done' WHERE id = ANY(:ids)"), {"ids": ids}
            )
        done += len(ids)
    elapsed = time.perf_counter() - start
    assert done == n, (done, n)
    return n / elapsed


def _our_drain(db: Database, n: int) -> float:
    def enqueue(session: Session) -> None:
        for _ in range(n):
            jobs.schedule(session, "bench.noop", {})

    db.mutation(lambda s: s.execute(text("DELETE FROM jobs")))
    db.mutation(enqueue)
    start = time.perf_counter()
    ran = jobs.drain(db, None, worker_id="bench", limit=50, max_rounds=10**6)
    elapsed = time.perf_counter() - start
    assert ran == n, (ran, n)
    return n / elapsed


def _latency(fn: Any, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def _schedule_cost(db: Database, rounds: int) -> dict[str, float]:
    write = db.bind.execution_options(admitone_write=True)  # type: ignore[union-attr]

    def bare() -> None:
        with write.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, email, created_at, updated_at) "
                    "VALUES (:id, :e, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": UserId.new(), "e": f"{uuid.uuid4().hex}@bench"},
            )

    def add_user(session: Session, with_job: bool) -> None:
        uid = UserId.new()
        session.add(User(id=uid, email=f"{uid.lower()}@bench"))
        if with_job:
            jobs.schedule(session, "bench.noop", {"user_id": uid})

    out = {}
    for _ in range(2):  # interleave to share the machine's noise
        out.setdefault("bare_insert_ms", []).append(_latency(bare, rounds))
        out.setdefault("mutation_ms", []).append(
            _latency(lambda: db.mutation(add_user, False), rounds)
        )
        out.setdefault("mutation_with_job_ms", []).append(
            _latency(lambda: db.mutation(add_user, True), rounds)
        )
    result = {k: round(statistics.median(v), 3) for k, v in out.items()}
    result["scheduling_adds_ms"] = round(result["mutation_with_job_ms"] - result["mutation_ms"], 3)
    return result


def run(url: str, n: int, rounds: int) -> dict[str, Any]:
    db = Database(make_engine(url))
    upgrade(db.bind)  # type: ignore[arg-type]
    bare = [_bare_drain(db, n) for _ in range(2)]
    ours = [_our_drain(db, n) for _ in range(2)]
    result = {
        "bare_drain_jobs_per_s": round(max(bare)),
        "worker_drain_jobs_per_s": round(max(ours)),
        "drain_ratio": round(max(ours) / max(bare), 2),
        **_schedule_cost(db, rounds),
    }
    db.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/test")
    args = parser.parse_args()
    load_models()
    results: dict[str, Any] = {}
    admin_url = make_url(normalize_url(args.pg))
    name = f"admitone_bench_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        pg_url = admin_url.set(database=name).render_as_string(hide_password=False)
        results["postgresql"] = run(pg_url, args.jobs, args.rounds)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.jobs, args.rounds)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
