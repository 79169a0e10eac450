"""Engine, model base, and the query / mutation helpers that own transactions.

A *query* reads in a transaction that is rolled back. A *mutation* runs one function in one
write transaction, commits, and is retried (bounded, with jitter) when the database reports
a serialization failure, a deadlock or SQLite busy; jobs and realtime topics it scheduled
are released only after the commit. Services receive a `Session`; they may `flush()`,
never `commit()`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
import threading
import time
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import Annotated, Any, Concatenate, ParamSpec, TypeVar

import anyio.to_thread
import orjson
from anyio import CapacityLimiter
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeDecorator

from admitone.core.clock import utcnow

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


# Money in minor units. BIGINT: 2^31 kobo is only 21 million naira, and an order's total
# (up to 20 lines of 100 tickets) or an event's refunds can pass that.
MinorUnits = Annotated[int, mapped_column(BigInteger)]


class Timestamped:
    """`created_at` for every row."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Mutable(Timestamped):
    """`created_at` and `updated_at` for rows that change."""

    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


def id_column(**kwargs: Any) -> Mapped[Any]:
    return mapped_column(String(32), primary_key=True, **kwargs)


# Every CHECK made by `enum_check`, with its enum: a test compares each with the migrated
# database's constraint, so the enum stays the one source of the values.
ENUM_CHECKS: list[tuple[CheckConstraint, type[StrEnum]]] = []


def enum_check(column: str, states: type[StrEnum], name: str | None = None) -> CheckConstraint:
    """`CHECK (column IN (...))` from the enum: the enum is the one source of a state's
    values (models, schemas, services and the OpenAPI document all read it)."""
    allowed = ",".join(f"'{state.value}'" for state in states)
    check = CheckConstraint(f"{column} IN ({allowed})", name=name or column)
    ENUM_CHECKS.append((check, states))
    return check


def enum_column(states: type[StrEnum], **kwargs: Any) -> Mapped[Any]:
    """A state column stored as its text value, sized to the longest state."""
    return mapped_column(String(max(len(s.value) for s in states)), **kwargs)


# --- engines -----------------------------------------------------------------------------


def normalize_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def dump_json(value: Any) -> str:
    """JSON columns' encoder: orjson, about ten times the stdlib's speed on the documents
    the hot paths store (a webhook event carries a whole order in its job row). Non-string
    keys are written as strings, as `json.dumps` does; what orjson refuses (an integer past
    64 bits) goes to `json.dumps`, which decides as it always did."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    kwargs.setdefault("json_serializer", dump_json)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", False)
    # Bounded waits: a database that does not answer is a 503 in seconds, not a hung worker.
    kwargs.setdefault("pool_timeout", 10)
    connect_args = {"connect_timeout": 5, **kwargs.pop("connect_args", {})}
    return create_engine(url, connect_args=connect_args, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, NORMAL sync, foreign keys, and BEGIN IMMEDIATE for write transactions.

    pysqlite's own transaction handling is switched off so that we emit BEGIN ourselves:
    a deferred transaction that reads then writes fails at once with "database is locked"
    in WAL mode, so writers must take the lock up front.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("admitone_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def is_retryable(exc: BaseException) -> bool:
    """Serialization failure, deadlock, or SQLite busy: safe to run the transaction again."""
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) in {"40001", "40P01"}:
        return True
    if isinstance(orig, sqlite3.OperationalError):
        text = str(orig).lower()
        return "locked" in text or "busy" in text
    return False


# --- transactions ------------------------------------------------------------------------

Callback = Callable[[], None]


def after_commit(session: Session, callback: Callback) -> None:
    """Runs `callback` once the mutation that owns `session` has committed."""
    session.info.setdefault("after_commit", []).append(callback)


def publish(session: Session, *topics: str) -> None:
    """Marks realtime topics as changed; they are published after commit."""
    session.info.setdefault("topics", set()).update(topics)


class Database:
    """The application's handle on its database: queries and retried mutations.

    `bind` is an Engine normally; tests pass a Connection inside an outer transaction so
    that every commit becomes a savepoint release and the test rolls everything back.
    """

    max_attempts = 8

    def __init__(self, bind: Engine | Connection, threads: int = 4) -> None:
        self.bind = bind
        self.threads = threads
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )
        engine = bind if isinstance(bind, Engine) else bind.engine
        self.dialect = engine.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        self._write_bind: Engine | Connection = (
            bind.execution_options(admitone_write=True) if isinstance(bind, Engine) else bind
        )
        # One writer at a time inside a process keeps SQLite's tail latency low.
        self._write_lock = threading.RLock() if self.is_sqlite else None
        self.publisher: Callable[[set[str]], None] | None = None
        self.on_jobs_scheduled: Callback | None = None

    def _session(self, bind: Engine | Connection) -> Session:
        if isinstance(bind, Connection):
            return Session(
                bind=bind, join_transaction_mode="create_savepoint", expire_on_commit=False
            )
        return Session(bind=bind, expire_on_commit=False)

    @contextmanager
    def _writer(self) -> Iterator[None]:
        if self._write_lock is None:
            yield
            return
        with self._write_lock:
            yield

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Runs blocking database work (`query`, `mutation`, or a function that calls them)
        from async code on one of this process's `threads` database threads.

        Why a few: a sync route runs in AnyIO's pool of 40 threads, and 40 threads sharing
        one GIL and a hot row lock cost more CPU per request and longer waits than a few
        (bench/onsale.py: 4 threads gave 1.9x the orders/s on a hot tier with 30% less CPU
        per order). Hot routes are `async def` and put their transactions here; network
        calls (payment providers) stay outside, on AnyIO's pool.
        """
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:  # one per event loop: tests run a loop per client
            limiter = self._limiters[loop] = CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=limiter)

    async def amutation(
        self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`mutation` from async code, on a database thread (see `run`)."""
        return await self.run(partial(self.mutation, fn, *args, **kwargs))

    def query(
        self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Runs a read-only function; nothing it changes is kept."""
        session = self._session(self.bind)
        try:
            return fn(session, *args, **kwargs)
        finally:
            # close() ends the transaction without expiring what it loaded, so returned
            # objects stay readable.
            session.close()

    def mutation(
        self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Runs `fn` in one write transaction, retried on conflicts; returns its result."""
        for attempt in range(1, self.max_attempts + 1):
            session = self._session(self._write_bind)
            try:
                with self._writer():
                    result = fn(session, *args, **kwargs)
                    session.commit()
            except DBAPIError as exc:
                session.rollback()
                session.close()
                if attempt < self.max_attempts and is_retryable(exc):
                    delay = min(0.5, 0.005 * 2**attempt) * random.uniform(0.5, 1.5)
                    log.info("mutation %s retried after %s", _name(fn), type(exc.orig).__name__)
                    time.sleep(delay)
                    continue
                raise
            except BaseException:
                session.rollback()
                session.close()
                raise
            info = dict(session.info)
            session.close()
            self._after_commit(info)
            return result
        raise AssertionError("unreachable")

    def _after_commit(self, info: dict[str, Any]) -> None:
        for callback in info.get("after_commit", []):
            try:
                callback()
            except Exception:
                log.exception("after-commit callback failed")
        topics = info.get("topics")
        if topics and self.publisher is not None:
            self.publisher(topics)
        if info.get("jobs_scheduled") and self.on_jobs_scheduled is not None:
            self.on_jobs_scheduled()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write session committed at the end of the block (CLI, scripts, tests); no retry."""
        session = self._session(self._write_bind)
        try:
            with self._writer():
                yield session
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            info = dict(session.info)
            session.close()
        self._after_commit(info)

    def dispose(self) -> None:
        if isinstance(self.bind, Engine):
            self.bind.dispose()


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", repr(fn))


# --- hot statements ------------------------------------------------------------------------


Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Compiled:
    compiled: SQLCompiler
    positional: tuple[str, ...] | None  # parameter order for a positional driver (sqlite3)
    binds: dict[str, Processor]
    row: Callable[..., tuple[Any, ...]]  # a named tuple of the result columns
    results: tuple[Processor | None, ...]


class DriverStatement:
    """A Core statement compiled once per dialect and run on the driver's own cursor, inside
    the session's transaction.

    For the few statements that every door scan and privileged request runs:
    SQLAlchemy's per-execution machinery (cache key, execution context, result metadata)
    costs more CPU than the driver's round trip (bench/checkin.py). Values still go
    through the column types' own bind and result processors, so rows read as they do
    through `Session.execute`; driver errors are raised as SQLAlchemy's, so `mutation`
    retries a conflict the same way. An INSERT names the columns it sets
    (`column_keys`): no Python-side defaults are applied here.
    """

    def __init__(self, statement: Any, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._by_dialect: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled: SQLCompiler = self.statement.compile(
            dialect=dialect, column_keys=self.column_keys
        )
        binds: dict[str, Processor] = {}
        for bind, name in compiled.bind_names.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds[name] = process
        columns = list(self.statement.exported_columns)  # a SELECT's or the RETURNING's
        row = namedtuple("Row", [c.key for c in columns], rename=True)  # type: ignore[misc]
        results = tuple(
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        )
        positional = tuple(compiled.positiontup or ()) if compiled.positional else None
        found = _Compiled(compiled, positional, binds, row, results)
        self._by_dialect[dialect.name] = found
        return found

    def rows(self, session: Session, params: dict[str, Any]) -> list[Any]:
        """Runs the statement with `params`; the result rows as named tuples (none for a
        statement that returns no rows)."""
        return self._run(session, [params], many=False)

    def execute_many(self, session: Session, params: Sequence[dict[str, Any]]) -> None:
        """Runs a statement that returns no rows once per parameter set, in one call to the
        driver (psycopg pipelines them)."""
        if params:
            self._run(session, params, many=True)

    def _bind(self, c: _Compiled, params: dict[str, Any]) -> Any:
        values = c.compiled.construct_params(params)
        for name, process in c.binds.items():
            if name in values:
                values[name] = process(values[name])
        return tuple(values[n] for n in c.positional) if c.positional else values

    def _run(self, session: Session, params: Sequence[dict[str, Any]], *, many: bool) -> list[Any]:
        conn = session.connection()
        c = self._by_dialect.get(conn.dialect.name) or self._compile(conn.dialect)
        bound: Any = [self._bind(c, p) for p in params] if many else self._bind(c, params[0])
        sql = c.compiled.string
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        # Statement counters and loggers still see it (SQLAlchemy's own test for listeners).
        events = conn._has_events or conn.engine._has_events
        try:
            if events:
                conn.dispatch.before_cursor_execute(conn, cursor, sql, bound, None, many)
            try:
                if many:
                    cursor.executemany(sql, bound)
                    fetched: list[Any] = []
                else:
                    cursor.execute(sql, bound)
                    fetched = cursor.fetchall() if c.results else []
            except conn.dialect.loaded_dbapi.Error as exc:
                raise DBAPIError.instance(sql, bound, exc, conn.dialect.loaded_dbapi.Error) from exc
            if events:
                conn.dispatch.after_cursor_execute(conn, cursor, sql, bound, None, many)
        finally:
            cursor.close()
        make, results = c.row, c.results
        return [
            make(*(v if p is None else p(v) for p, v in zip(results, raw, strict=True)))
            for raw in fetched
        ]


def insert_for(session: Session, target: type[Any] | Table) -> PgInsert | SqliteInsert:
    """An INSERT that knows `ON CONFLICT` on the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(target)
    return sqlite_insert(target)
