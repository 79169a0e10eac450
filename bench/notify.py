"""Notifying the 20,000 holders of a cancelled event, next to a bare batched INSERT.

    .venv/bin/python bench/notify.py [--holders 20000] [--repeats 3]
        [--pg postgresql://root@127.0.0.1:5432/test]

On PostgreSQL (a scratch database, created and dropped): one event with `--holders` users
each holding a valid pass. Per repeat, interleaved:
  * `app`: `core.outbox.notify(session, "event_cancelled", event_holders=...)` committed,
    then the fan-out jobs drained by one worker (`jobs.drain`): recipients resolved in pages
    of 1,000, preferences read, notifications inserted in multi-row INSERTs of 500, the
    e-mail copies (event cancellation is transactional: every holder gets one) queued as
    `emails.send` job rows, the next page scheduled (the worker's claim is limited to the
    fan-out jobs: the e-mail jobs are not run);
  * `bare`: psycopg, the same rows (one notification and one e-mail job row per holder)
    inserted with multi-row INSERTs of 500, one transaction per 1,000 holders, the holder
    ids read with one SELECT first.
Both sides' rows are deleted between runs. Reports medians and app/bare (target <= 2).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from pydantic import SecretStr
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url
from ulid import ULID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from admitone import domains
from admitone.core import jobs, outbox
from admitone.core.db import Database, make_engine, normalize_url
from admitone.migrate import upgrade
from admitone.settings import Settings
from tests.factories import make_event, make_order, make_organization, make_tier, make_user

CHUNK = 500
PAGE = 1000


def seed(url: str, holders: int) -> str:
    db = Database(make_engine(url))
    with db.session() as s:
        owner = make_user(s)
        event = make_event(s, make_organization(s, owner), title="Gala")
        tier = make_tier(s, event)
        order, item = make_order(s, event, tier)  # one order carries every pass
        event_id, tier_id, order_id, item_id = event.id, tier.id, order.id, item.id
    db.dispose()
    with psycopg.connect(url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        users = [f"usr_{ULID()}" for _ in range(holders)]
        with cur.copy("COPY users (id, email, name, created_at, updated_at) FROM STDIN") as cp:
            for u in users:
                cp.write_row((u, f"{u.lower()}@example.com", "Holder", "now", "now"))
        with cur.copy(
            "COPY passes (id, event_id, order_id, order_item_id, tier_id, holder_user_id, code,"
            " status, created_at, updated_at) FROM STDIN"
        ) as cp:
            for i, u in enumerate(users):
                cp.write_row(
                    (f"pas_{ULID()}", event_id, order_id, item_id, tier_id, u, f"C{i:010d}",
                     "valid", "now", "now")
                )  # fmt: skip
        conn.commit()
    return event_id


def _claim_fanout(db: Database) -> list[jobs.Claimed]:
    """`jobs.claim` limited to the fan-out jobs: the `emails.send` jobs they queue are the
    mail transport's work, not this measure's, and stay queued."""

    def claim(session: Any) -> list[jobs.Claimed]:
        due = (
            select(jobs.Job.id)
            .where(jobs.Job.name == outbox.NOTIFY_JOB, jobs.Job.status == "queued")
            .order_by(jobs.Job.run_at)
            .limit(50)
            .with_for_update(skip_locked=True)
        )
        rows = session.execute(
            update(jobs.Job)
            .where(jobs.Job.id.in_(due.scalar_subquery()))
            .values(status="running", locked_by="bench", attempts=jobs.Job.attempts + 1)
            .returning(
                jobs.Job.id, jobs.Job.name, jobs.Job.args, jobs.Job.attempts, jobs.Job.max_attempts
            )
            .execution_options(synchronize_session=False)
        )
        return [jobs.Claimed(*row) for row in rows]

    return db.mutation(claim)


def run_app(db: Database, settings: Settings, event_id: str) -> float:
    started = time.perf_counter()
    db.mutation(
        lambda s: outbox.notify(
            s, "event_cancelled", event_holders=event_id, data={"event_title": "Gala"}
        )
    )
    while claimed := _claim_fanout(db):
        jobs.run_claimed(db, settings, "bench", claimed)
    return time.perf_counter() - started


def run_bare(url: str, event_id: str) -> float:
    started = time.perf_counter()
    with psycopg.connect(url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT holder_user_id FROM passes WHERE event_id = %s AND status = 'valid'"
            " AND holder_user_id IS NOT NULL ORDER BY 1",
            (event_id,),
        )
        users = [r[0] for r in cur.fetchall()]
        conn.commit()
        source = f"src_{ULID()}"
        data = json.dumps({"event_title": "Gala"})
        for p in range(0, len(users), PAGE):
            page = users[p : p + PAGE]
            for c in range(0, len(page), CHUNK):
                chunk = page[c : c + CHUNK]
                rows = ",".join(
                    ["(%s,%s,'event_cancelled','Gala is cancelled',NULL,%s,%s,now())"] * len(chunk)
                )
                params: list[Any] = []
                for u in chunk:
                    params += [f"ntf_{ULID()}", u, data, source]
                cur.execute(
                    "INSERT INTO notifications (id, user_id, kind, title, body, data, source_key,"
                    f" created_at) VALUES {rows} ON CONFLICT DO NOTHING",
                    params,
                )
                jrows = ",".join(
                    ["(%s,'emails.send',%s,'done',now(),0,8,%s,now(),now())"] * len(chunk)
                )
                jparams: list[Any] = []
                for u in chunk:
                    args = json.dumps(
                        {"to": f"{u.lower()}@example.com", "template": "notification",
                         "context": {"title": "Gala is cancelled", "body": "", "link": "x",
                                     "unsubscribe_url": None}, "headers": {}}
                    )  # fmt: skip
                    jparams += [f"job_{ULID()}", args, f"ntf:{source}:{u}"]
                cur.execute(
                    "INSERT INTO jobs (id, name, args, status, run_at, attempts, max_attempts,"
                    f" unique_key, created_at, updated_at) VALUES {jrows} ON CONFLICT DO NOTHING",
                    jparams,
                )
            conn.commit()
    return time.perf_counter() - started


def clear(url: str) -> None:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        conn.execute("DELETE FROM notifications")
        conn.execute("DELETE FROM jobs")
        conn.commit()


def count(url: str) -> int:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT count(*) FROM notifications").fetchone()
        return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--holders", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/test")
    args = parser.parse_args()
    domains.load_models()
    domains.load_jobs()
    admin_url = make_url(normalize_url(args.pg))
    name = f"admitone_bench_notify_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        upgrade(engine)
        event_id = seed(url, args.holders)
        db = Database(engine)
        settings = Settings(
            env="dev",
            secret_key=SecretStr("bench-secret-key-0123456789abcdef"),
            cron_secret=SecretStr("bench"),
            run_worker_in_process=False,
        )
        app_s, bare_s = [], []
        for _ in range(args.repeats):
            bare_s.append(run_bare(url, event_id))
            assert count(url) == args.holders
            clear(url)
            app_s.append(run_app(db, settings, event_id))
            assert count(url) == args.holders, count(url)
            clear(url)
        app, bare = statistics.median(app_s), statistics.median(bare_s)
        print(
            json.dumps(
                {
                    "holders": args.holders,
                    "app_seconds": round(app, 3),
                    "bare_seconds": round(bare, 3),
                    "ratio": round(app / bare, 3),
                    "runs": {"app": [round(x, 3) for x in app_s],
                             "bare": [round(x, 3) for x in bare_s]},
                },
                indent=2,
            )
        )  # fmt: skip
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
