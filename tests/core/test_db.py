"""Mutations: one transaction, all or nothing, retried on real conflicts; jobs ride along."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from admitone.core import jobs
from admitone.core.db import Database, is_retryable
from admitone.core.jobs import Job
from tests.factories import make_user


def _count_jobs(db: Database, name: str) -> int:
    return db.query(lambda s: s.scalar(select(func.count()).where(Job.name == name)) or 0)


def test_mutation_commits_and_returns_the_result(db: Database) -> None:
    user = db.mutation(lambda s: make_user(s, name="Ada"))
    assert db.query(lambda s: s.get(type(user), user.id).name) == "Ada"


def test_failed_mutation_leaves_nothing_behind(db: Database) -> None:
    def place_then_fail(session: Session) -> None:
        make_user(session, email="gone@example.com")
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        db.mutation(place_then_fail)
    assert db.query(lambda s: s.scalar(text("SELECT count(*) FROM users"))) == 0


def test_job_scheduled_in_a_mutation_commits_with_it(db: Database) -> None:
    db.mutation(lambda s: jobs.schedule(s, "test.noop", {"n": 1}))
    assert _count_jobs(db, "test.noop") == 1


def test_job_scheduled_in_a_rolled_back_mutation_vanishes(db: Database) -> None:
    def schedule_then_fail(session: Session) -> None:
        jobs.schedule(session, "test.noop", {"n": 1})
        raise RuntimeError("payment refused")

    with pytest.raises(RuntimeError):
        db.mutation(schedule_then_fail)
    assert _count_jobs(db, "test.noop") == 0


def test_naive_datetimes_are_refused_and_aware_ones_round_trip(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        db.mutation(lambda s: make_user(s, email_verified_at=datetime(2026, 1, 1)))  # noqa: DTZ001
    moment = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    user = db.mutation(lambda s: make_user(s, email_verified_at=moment))
    stored = db.query(lambda s: s.get(type(user), user.id).email_verified_at)
    assert stored == moment
    assert stored.tzinfo is not None


def test_sqlite_busy_is_classified_retryable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    holder.execute("CREATE TABLE t (x int)")
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as caught:
        other.execute("BEGIN IMMEDIATE")
    assert is_retryable(caught.value)
    assert not is_retryable(sqlite3.OperationalError("no such table: t"))
    holder.close()
    other.close()


@pytest.mark.postgres
def test_mutation_retries_a_real_serialization_failure(committed_db: Database) -> None:
    """The first attempt reads a row SERIALIZABLE, another transaction changes it and
    commits, and the first attempt's write fails with 40001; the retry then succeeds."""
    db = committed_db
    db.mutation(lambda s: jobs.schedule(s, "test.noop", {}, unique_key="contended"))
    attempts: list[int] = []

    def interfering_commit() -> None:
        with db.bind.connect() as conn:  # type: ignore[union-attr]
            conn.execute(update(Job).where(Job.unique_key == "contended").values(attempts=7))
            conn.commit()

    def bump(session: Session) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            session.execute(text("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
        value = session.scalar(select(Job.attempts).where(Job.unique_key == "contended"))
        if len(attempts) == 1:
            t = threading.Thread(target=interfering_commit)
            t.start()
            t.join()
        session.execute(
            update(Job).where(Job.unique_key == "contended").values(attempts=(value or 0) + 1)
        )
        return len(attempts)

    assert db.mutation(bump) == 2
    assert (
        db.query(lambda s: s.scalar(select(Job.attempts).where(Job.unique_key == "contended"))) == 8
    )


def test_run_uses_at_most_the_database_threads_and_returns_results(db: Database) -> None:
    import asyncio
    import time

    db.threads = 2
    running, peak = [0], [0]
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return n * n

    async def main() -> list[int]:
        return list(await asyncio.gather(*(db.run(work, n) for n in range(6))))

    assert asyncio.run(main()) == [0, 1, 4, 9, 16, 25]
    assert peak[0] == 2


def test_amutation_commits_like_mutation(db: Database) -> None:
    import asyncio

    def write(session: Session) -> str:
        return make_user(session).id

    user_id = asyncio.run(db.amutation(write))
    assert (
        db.query(
            lambda s: s.scalar(text("SELECT count(*) FROM users WHERE id = :i"), {"i": user_id})
        )
        == 1
    )
