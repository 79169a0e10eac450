"""The job queue: runs after commit, retries with backoff, dies visibly, leases, crons."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from admitone.core import jobs
from admitone.core.db import Database
from admitone.core.jobs import Job, JobContext
from admitone.settings import Settings

ran: list[tuple[str, dict[str, Any]]] = []
ran_lock = threading.Lock()


@jobs.job("test.record")
def _record(ctx: JobContext, **args: Any) -> None:
    with ran_lock:
        ran.append((ctx.job_id, args))


@jobs.job("test.explode", max_attempts=3)
def _explode(ctx: JobContext, **args: Any) -> None:
    raise RuntimeError("provider down")


jobs.cron("test.tick", every=timedelta(minutes=5), job="test.record")


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    ran.clear()


def _job(db: Database, **where: Any) -> Job:
    return db.query(lambda s: s.scalars(select(Job).filter_by(**where)).one())


def test_a_job_runs_with_its_arguments_and_is_marked_done(db: Database, settings: Settings) -> None:
    db.mutation(lambda s: jobs.schedule(s, "test.record", {"order_id": "ord_1"}))
    assert jobs.drain(db, settings) == 1
    assert [args for _, args in ran] == [{"order_id": "ord_1"}]
    assert _job(db, name="test.record").status == "done"
    assert jobs.drain(db, settings) == 0


def test_a_delayed_job_waits_until_due(db: Database, settings: Settings) -> None:
    db.mutation(lambda s: jobs.schedule(s, "test.record", {}, delay=timedelta(minutes=10)))
    assert jobs.drain(db, settings) == 0
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=11)):
        assert jobs.drain(db, settings) == 1


def test_a_failing_job_is_retried_with_backoff_then_dead(db: Database, settings: Settings) -> None:
    db.mutation(lambda s: jobs.schedule(s, "test.explode", {}))
    assert jobs.drain(db, settings) == 1
    job = _job(db, name="test.explode")
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.run_at > datetime.now(UTC)
    assert "provider down" in (job.last_error or "")
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=2)):
        jobs.drain(db, settings)
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=4)):
        jobs.drain(db, settings)
    job = _job(db, name="test.explode")
    assert (job.status, job.attempts) == ("dead", 3)
    assert job.finished_at is not None


def test_an_unknown_job_name_fails_visibly(db: Database, settings: Settings) -> None:
    db.mutation(lambda s: jobs.schedule(s, "test.nobody-handles-this", {}, max_attempts=1))
    jobs.drain(db, settings)
    job = _job(db, name="test.nobody-handles-this")
    assert job.status == "dead"
    assert "no handler" in (job.last_error or "")


def test_a_unique_key_enqueues_once(db: Database) -> None:
    for _ in range(3):
        db.mutation(lambda s: jobs.schedule(s, "test.record", {}, unique_key="once"))
    assert db.query(lambda s: s.scalar(select(func.count()).select_from(Job))) == 1


def test_a_job_whose_worker_died_is_reclaimed_when_its_lease_ends(
    db: Database, settings: Settings
) -> None:
    db.mutation(lambda s: jobs.schedule(s, "test.record", {"n": 1}))
    claimed = jobs.claim(db, "worker-that-dies", lease=timedelta(seconds=30))
    assert len(claimed) == 1
    assert jobs.claim(db, "other-worker") == []  # leased: nobody else takes it
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=31)):
        again = jobs.claim(db, "other-worker")
        assert [c.id for c in again] == [claimed[0].id]
        assert again[0].attempts == 2
        jobs.run_claimed(db, settings, "other-worker", again)
    # The dead worker's late report must not overwrite the new owner's result.
    jobs.run_claimed(db, settings, "worker-that-dies", [])
    assert _job(db, id=claimed[0].id).status == "done"


def test_cron_slots_align_to_their_interval() -> None:
    spec = jobs.registered_crons()["test.tick"]
    slot = jobs.cron_slot(spec, datetime(2026, 11, 25, 10, 7, 31, tzinfo=UTC))
    assert slot == datetime(2026, 11, 25, 10, 5, tzinfo=UTC)


def test_two_workers_never_run_the_same_job(committed_db: Database, settings: Settings) -> None:
    db = committed_db
    db.mutation(lambda s: [jobs.schedule(s, "test.record", {"n": i}) for i in range(300)])
    barrier = threading.Barrier(3)

    def work(name: str) -> None:
        barrier.wait()
        while batch := jobs.claim(db, name, limit=7):
            jobs.run_claimed(db, settings, name, batch)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(job_id for job_id, _ in ran)
    assert len(counts) == 300
    assert max(counts.values()) == 1
    assert db.query(lambda s: s.scalar(select(func.count()).where(Job.status == "done"))) == 300


def test_a_due_cron_is_enqueued_once_when_several_workers_see_it(committed_db: Database) -> None:
    db = committed_db
    now = datetime(2026, 11, 25, 10, 7, tzinfo=UTC)
    barrier = threading.Barrier(4)

    def tick() -> None:
        barrier.wait()
        for _ in range(5):
            jobs.enqueue_due_crons(db, now)

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = db.query(
        lambda s: s.scalars(
            select(Job.unique_key).where(Job.unique_key.like("cron:test.tick:%"))
        ).all()
    )
    assert keys == ["cron:test.tick:2026-11-25T10:05:00+00:00"]


def test_cron_route_enqueues_a_run(client: TestClient, db: Database) -> None:
    resp = client.post("/cron/test.tick", headers={"Authorization": "Bearer test-cron-secret"})
    assert resp.status_code == 202
    assert resp.json() == {"status": "enqueued", "cron": "test.tick"}
    assert _job(db, name="test.record").args == {"trigger": "http"}


def test_the_in_process_worker_runs_a_job_soon_after_commit(
    committed_db: Database, settings: Settings
) -> None:
    worker = jobs.Worker(committed_db, settings, idle_seconds=30)
    committed_db.on_jobs_scheduled = worker.wake
    worker.start()
    try:
        committed_db.mutation(lambda s: jobs.schedule(s, "test.record", {"woken": True}))
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while {"woken": True} not in [a for _, a in ran] and datetime.now(UTC) < deadline:
            threading.Event().wait(0.02)
    finally:
        worker.stop()
    # Idle polling is 30 s, so only the post-commit wake-up can explain a prompt run.
    assert {"woken": True} in [args for _, args in ran]


def test_a_stopping_worker_finishes_the_job_under_way_and_releases_the_rest(
    db: Database, settings: Settings
) -> None:
    for i in range(5):
        db.mutation(lambda s, i=i: jobs.schedule(s, "test.record", {"n": i}))
    claimed = jobs.claim(db, "w-stopping", limit=5)
    assert len(claimed) == 5
    stop_after_two = iter([False, False, True])
    ran_count = jobs.run_claimed(
        db, settings, "w-stopping", claimed, lambda: next(stop_after_two, True)
    )
    assert ran_count == 2
    assert sorted(args["n"] for _, args in ran) == sorted(c.args["n"] for c in claimed[:2])

    def states(session: Any) -> Counter[str]:
        return Counter(session.scalars(select(Job.status).where(Job.name == "test.record")))

    assert db.query(states) == Counter({"done": 2, "queued": 3})
    # released at once (no lease to wait out) and without spending an attempt
    again = jobs.claim(db, "w-other", limit=5)
    assert sorted(c.id for c in again) == sorted(c.id for c in claimed[2:])
    assert {c.attempts for c in again} == {1}
