"""Transactional job queue, worker loop and cron registry.

Jobs are rows inserted in the caller's transaction, so a rolled-back mutation schedules
nothing. A plain job (no `unique_key`) is held on the session and inserted just before the
transaction commits, with every other plain job it scheduled, in one multi-row INSERT (an
order schedules several: one statement, not one each). Workers claim due jobs in batches
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, `UPDATE ... RETURNING` under `BEGIN IMMEDIATE` on
SQLite) and hold a lease; a job whose worker died is claimed again when the lease ends.
Failures are retried with exponential backoff and jitter; after `max_attempts` the job is
`dead`. Handlers must be idempotent.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, cast

from sqlalchemy import (
    Index,
    String,
    Table,
    Text,
    bindparam,
    case,
    delete,
    event,
    func,
    literal_column,
    null,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from admitone.core.clock import utcnow
from admitone.core.db import Base, Database, DriverStatement, Mutable, enum_check, id_column
from admitone.core.ids import JobId

log = logging.getLogger(__name__)


class JobStatus(StrEnum):
    """A job's state: queued (due at `run_at`), running (leased until `locked_until`), done,
    or dead (out of attempts)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


JOB_STATUSES = tuple(JobStatus)


class Job(Mutable, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        enum_check("status", JobStatus),
        # Claims scan this in run_at order; done and dead jobs stay out of it.
        Index(
            "ix_jobs_pending",
            "run_at",
            postgresql_where=text("status IN ('queued','running')"),
            sqlite_where=text("status IN ('queued','running')"),
        ),
    )

    id: Mapped[JobId] = id_column()
    name: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(10), default=JobStatus.QUEUED.value)
    # When a queued job is due; while it runs, when its lease ends (then it is due again).
    run_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=10)
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    unique_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]


JOBS = cast(Table, Job.__table__)
# Plain jobs are inserted with the mutations that cause them (an order, a scan): one
# multi-row INSERT per commit, compiled once per row count and run on the driver's cursor
# (core.db.DriverStatement); larger batches go in chunks.
_CHUNK = 50
_inserts: dict[tuple[str, int], DriverStatement] = {}
# session.info key: (the root transaction the rows belong to, the rows).
_PENDING = "jobs_pending"


def _insert_rows(dialect: str, n: int) -> DriverStatement:
    """`INSERT INTO jobs ... VALUES (...), ...` for `n` plain jobs: the values every plain
    job shares are literals and each row's one timestamp fills both created_at and
    updated_at (six parameters a row, not ten: bound per row at every commit)."""
    found = _inserts.get((dialect, n))
    if found is None:
        c = JOBS.c
        rows: list[dict[str, Any]] = [
            {
                "id": bindparam(f"id_{i}", type_=c.id.type),
                "name": bindparam(f"name_{i}", type_=c.name.type),
                "args": bindparam(f"args_{i}", type_=c.args.type),
                "status": literal_column(f"'{JobStatus.QUEUED.value}'"),
                "run_at": bindparam(f"run_at_{i}", type_=c.run_at.type),
                "attempts": literal_column("0"),
                "max_attempts": bindparam(f"max_attempts_{i}", type_=c.max_attempts.type),
                "unique_key": null(),
                "created_at": bindparam(f"now_{i}", type_=c.created_at.type),
                "updated_at": bindparam(f"now_{i}", type_=c.updated_at.type),
            }
            for i in range(n)
        ]
        found = _inserts[(dialect, n)] = DriverStatement(JOBS.insert().values(rows))
    return found


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    dialect = session.get_bind().dialect.name
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        params: dict[str, Any] = {}
        for i, row in enumerate(chunk):
            params[f"id_{i}"] = row["id"]
            params[f"name_{i}"] = row["name"]
            params[f"args_{i}"] = row["args"]
            params[f"run_at_{i}"] = row["run_at"]
            params[f"max_attempts_{i}"] = row["max_attempts"]
            params[f"now_{i}"] = row["created_at"]
        _insert_rows(dialect, len(chunk)).rows(session, params)


@event.listens_for(Session, "before_commit")
def _insert_scheduled(session: Session) -> None:
    """Inserts the plain jobs the transaction scheduled (before the commit: they commit or
    roll back with it). Rows left by a rolled-back transaction belong to another
    transaction object and are dropped."""
    pending = session.info.pop(_PENDING, None)
    if pending is not None and pending[0] is session.get_transaction():
        _insert(session, pending[1])


def insert_scheduled(session: Session) -> None:
    """Inserts the plain jobs scheduled so far in this transaction now, for a caller that
    reads the `jobs` table before committing (commit does it otherwise)."""
    _insert_scheduled(session)


@dataclass(frozen=True)
class JobContext:
    """What a handler gets besides its arguments."""

    db: Database
    settings: Any
    job_id: str
    attempt: int


class Handler(Protocol):
    def __call__(self, ctx: JobContext, /, **kwargs: Any) -> None: ...


@dataclass(frozen=True)
class JobSpec:
    name: str
    handler: Handler
    max_attempts: int


@dataclass(frozen=True)
class CronSpec:
    name: str
    every: timedelta
    job: str


_handlers: dict[str, JobSpec] = {}
_crons: dict[str, CronSpec] = {}


def job(name: str, *, max_attempts: int = 10) -> Callable[[Handler], Handler]:
    """Registers an idempotent handler under a stable name."""

    def register(fn: Handler) -> Handler:
        if name in _handlers and _handlers[name].handler is not fn:
            raise ValueError(f"job {name!r} is registered twice")
        _handlers[name] = JobSpec(name, fn, max_attempts)
        return fn

    return register


def cron(name: str, *, every: timedelta, job: str | None = None) -> None:
    """Declares a cron: the job `job` (default: `name`) runs once per `every` slot."""
    _crons[name] = CronSpec(name, every, job or name)


def registered_jobs() -> dict[str, JobSpec]:
    return dict(_handlers)


def registered_crons() -> dict[str, CronSpec]:
    return dict(_crons)


def schedule(
    session: Session,
    name: str,
    args: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    delay: timedelta | None = None,
    unique_key: str | None = None,
    max_attempts: int | None = None,
    rearm: bool = False,
) -> None:
    """Enqueues a job in the caller's transaction; with `unique_key`, at most once ever.

    With `rearm` (and `unique_key`), the job of that key is queued again whatever its state:
    a done job runs again at `run_at`, a queued one keeps the earlier of the two times, and
    a running one is queued again, so it runs once more after the run under way (which can
    no longer mark it done). One job row per key then serves a stream of work (a webhook
    endpoint's deliveries): the handler must take whatever is due when it runs."""
    now = utcnow()
    due = run_at or (now + delay if delay else now)
    spec = _handlers.get(name)
    values = {
        "id": JobId.new(),
        "name": name,
        "args": args or {},
        "status": JobStatus.QUEUED.value,
        "run_at": due,
        "attempts": 0,
        "max_attempts": max_attempts or (spec.max_attempts if spec else 10),
        "unique_key": unique_key,
        "created_at": now,
        "updated_at": now,
    }
    if unique_key is None:
        _defer(session, values)
    else:
        dialect = session.get_bind().dialect.name
        ins = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = ins(JOBS).values(**values)
        if not rearm:
            session.execute(stmt.on_conflict_do_nothing())
        else:
            c = JOBS.c
            keep_earlier = (c.status == JobStatus.QUEUED.value) & (c.run_at < stmt.excluded.run_at)
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[c.unique_key],
                    set_={
                        "status": JobStatus.QUEUED.value,
                        "run_at": case((keep_earlier, c.run_at), else_=stmt.excluded.run_at),
                        "args": stmt.excluded.args,
                        "attempts": 0,
                        "locked_until": None,
                        "locked_by": None,
                        "last_error": None,
                        "finished_at": None,
                        "updated_at": now,
                    },
                )
            )
    session.info["jobs_scheduled"] = True


def _defer(session: Session, values: dict[str, Any]) -> None:
    if session.in_nested_transaction():  # a savepoint that rolls back takes its jobs with it
        _insert(session, [values])
        return
    root = session.get_transaction() or session.begin()
    pending: tuple[Any, list[dict[str, Any]]] | None = session.info.get(_PENDING)
    if pending is None or pending[0] is not root:  # none yet, or a rolled-back transaction's
        session.info[_PENDING] = pending = (root, [])
    pending[1].append(values)


def schedule_cron(session: Session, spec: CronSpec, slot: datetime) -> None:
    schedule(
        session,
        spec.job,
        {"scheduled_for": slot.isoformat()},
        run_at=slot,
        unique_key=f"cron:{spec.name}:{slot.isoformat()}",
    )


def cron_slot(spec: CronSpec, now: datetime) -> datetime:
    """The start of the slot `now` falls in, aligned to the epoch."""
    step = int(spec.every.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, tz=now.tzinfo)


# --- the worker ----------------------------------------------------------------------------


@dataclass
class Claimed:
    id: str
    name: str
    args: dict[str, Any]
    attempts: int
    max_attempts: int


def backoff(attempt: int) -> timedelta:
    """Exponential backoff with full jitter: about 2, 4, 8 ... seconds, at most an hour."""
    base = min(3600.0, 2.0**attempt)
    return timedelta(seconds=random.uniform(base / 2, base))


def claim(
    db: Database, worker_id: str, *, limit: int = 50, lease: timedelta = timedelta(minutes=5)
) -> list[Claimed]:
    """Claims up to `limit` due jobs (and expired leases) for this worker."""

    def _claim(session: Session) -> list[Claimed]:
        now = utcnow()
        due = (
            select(Job.id)
            .where(
                ((Job.status == JobStatus.QUEUED) & (Job.run_at <= now))
                | ((Job.status == JobStatus.RUNNING) & (Job.locked_until < now))
            )
            .order_by(Job.run_at)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        stmt = (
            update(Job)
            .where(Job.id.in_(due.scalar_subquery()))
            .values(
                status=JobStatus.RUNNING.value,
                locked_until=now + lease,
                locked_by=worker_id,
                attempts=Job.attempts + 1,
                updated_at=now,
            )
            .returning(Job.id, Job.name, Job.args, Job.attempts, Job.max_attempts)
            .execution_options(synchronize_session=False)
        )
        return [Claimed(*row) for row in session.execute(stmt)]

    return db.mutation(_claim)


def _finish(
    db: Database, worker_id: str, done: list[str], failed: list[tuple[Claimed, str]]
) -> None:
    def _record(session: Session) -> None:
        now = utcnow()
        if done:
            session.execute(
                JOBS.update()
                .where(
                    JOBS.c.id.in_(done),
                    JOBS.c.locked_by == worker_id,
                    JOBS.c.status == JobStatus.RUNNING,
                )
                .values(
                    status=JobStatus.DONE.value, finished_at=now, locked_until=None, updated_at=now
                )
            )
        for claimed, error in failed:
            dead = claimed.attempts >= claimed.max_attempts
            session.execute(
                JOBS.update()
                .where(
                    JOBS.c.id == claimed.id,
                    JOBS.c.locked_by == worker_id,
                    JOBS.c.status == JobStatus.RUNNING,
                )
                .values(
                    status=JobStatus.DEAD.value if dead else JobStatus.QUEUED.value,
                    run_at=now if dead else now + backoff(claimed.attempts),
                    locked_until=None,
                    last_error=error[-4000:],
                    finished_at=now if dead else None,
                    updated_at=now,
                )
            )
            if dead:
                log.error(
                    "job %s (%s) is dead after %d attempts",
                    claimed.id,
                    claimed.name,
                    claimed.attempts,
                )

    db.mutation(_record)


def run_claimed(
    db: Database,
    settings: Any,
    worker_id: str,
    jobs: list[Claimed],
    stopping: Callable[[], bool] = lambda: False,
) -> int:
    """Runs claimed jobs; records successes in one batch and failures for retry. When
    `stopping()` turns true (SIGTERM), the job under way finishes and the claimed jobs not
    yet started are released for another worker at once, not after their lease."""
    done: list[str] = []
    failed: list[tuple[Claimed, str]] = []
    for index, claimed in enumerate(jobs):
        if stopping():
            _finish(db, worker_id, done, failed)
            release(db, worker_id, [c.id for c in jobs[index:]])
            return index
        spec = _handlers.get(claimed.name)
        try:
            if spec is None:
                raise LookupError(f"no handler registered for job {claimed.name!r}")
            spec.handler(JobContext(db, settings, claimed.id, claimed.attempts), **claimed.args)
        except Exception:
            log.warning("job %s (%s) failed", claimed.id, claimed.name, exc_info=True)
            failed.append((claimed, traceback.format_exc()))
        else:
            done.append(claimed.id)
    _finish(db, worker_id, done, failed)
    return len(jobs)


def release(db: Database, worker_id: str, job_ids: list[str]) -> None:
    """Gives claimed, unstarted jobs back to the queue (their attempt is not counted)."""
    if not job_ids:
        return

    def _release(session: Session) -> None:
        session.execute(
            JOBS.update()
            .where(
                JOBS.c.id.in_(job_ids),
                JOBS.c.locked_by == worker_id,
                JOBS.c.status == "running",
            )
            .values(
                status="queued",
                locked_until=None,
                locked_by=None,
                attempts=JOBS.c.attempts - 1,
                updated_at=utcnow(),
            )
        )

    db.mutation(_release)


def enqueue_due_crons(db: Database, now: datetime | None = None) -> None:
    if not _crons:
        return
    when = now or utcnow()

    def _enqueue(session: Session) -> None:
        for spec in _crons.values():
            schedule_cron(session, spec, cron_slot(spec, when))

    db.mutation(_enqueue)


def drain(
    db: Database, settings: Any, *, worker_id: str = "drain", limit: int = 50, max_rounds: int = 100
) -> int:
    """Runs due jobs until none is left (tests and `admitone cron run`); returns how many."""
    total = 0
    for _ in range(max_rounds):
        jobs = claim(db, worker_id, limit=limit)
        if not jobs:
            break
        total += run_claimed(db, settings, worker_id, jobs)
    return total


def oldest_due_age(session: Session) -> float | None:
    """Seconds since the oldest queued job became due (worker lag), or None."""
    oldest = session.scalar(
        select(func.min(Job.run_at)).where(Job.status == JobStatus.QUEUED, Job.run_at <= utcnow())
    )
    return None if oldest is None else (utcnow() - oldest).total_seconds()


@dataclass
class Worker:
    """Polls for due jobs; woken early when this process schedules one."""

    db: Database
    settings: Any
    batch: int = 50
    idle_seconds: float = 1.0
    cron_seconds: float = 15.0
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def run_forever(self) -> None:
        next_cron = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_cron:
                    enqueue_due_crons(self.db)
                    next_cron = time.monotonic() + self.cron_seconds
                jobs = claim(self.db, self.worker_id, limit=self.batch)
                if jobs:
                    run_claimed(self.db, self.settings, self.worker_id, jobs, self._stop.is_set)
                    continue
            except Exception:
                log.exception("worker loop failed; retrying")
            self._wake.wait(self.idle_seconds)
            self._wake.clear()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.run_forever, name="admitone-worker", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finishes the job under way, releases the claimed ones not started, and returns
        once the loop has ended (or after `timeout` seconds)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


def purge_finished(session: Session, older_than: timedelta) -> int:
    """Deletes done jobs older than `older_than` (cron unique keys age out with them)."""
    result = session.execute(
        delete(Job)
        .where(Job.status == JobStatus.DONE, Job.finished_at < utcnow() - older_than)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
