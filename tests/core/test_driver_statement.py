"""DriverStatement: hot statements on the driver's cursor read and fail like Session.execute."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from admitone.core.db import Database, DriverStatement
from admitone.core.ids import JobId
from admitone.core.jobs import Job

JOBS = cast(Table, Job.__table__)
COLUMNS = ("id", "name", "args", "status", "run_at", "attempts", "max_attempts", "unique_key",
           "created_at", "updated_at")  # fmt: skip
INSERT = DriverStatement(JOBS.insert().returning(JOBS.c.id, JOBS.c.run_at), COLUMNS)
READ = DriverStatement(
    select(Job.id, Job.args, Job.run_at, Job.locked_until, Job.attempts.label("tries")).where(
        Job.name == bindparam("name")
    )
)


def _job(name: str, unique_key: str | None = None) -> dict[str, Any]:
    at = datetime(2026, 11, 29, 10, 30, 15, 123456, tzinfo=UTC)
    return {
        "id": JobId.new(),
        "name": name,
        "args": {"order_id": "ord_1", "items": [1, 2]},
        "status": "queued",
        "run_at": at,
        "attempts": 0,
        "max_attempts": 3,
        "unique_key": unique_key,
        "created_at": at,
        "updated_at": at,
    }


def test_rows_read_like_session_execute(db: Database) -> None:
    def run(session: Session) -> tuple[list[Any], list[Any], list[Any]]:
        returned = INSERT.rows(session, _job("driver.read"))
        fast = READ.rows(session, {"name": "driver.read"})
        slow = list(session.execute(READ.statement, {"name": "driver.read"}))
        return returned, fast, slow

    returned, fast, slow = db.mutation(run)
    assert returned[0].run_at == datetime(2026, 11, 29, 10, 30, 15, 123456, tzinfo=UTC)
    assert [tuple(r) for r in fast] == [tuple(r) for r in slow]
    row = fast[0]
    assert row.args == {"order_id": "ord_1", "items": [1, 2]}  # JSON decoded
    assert row.run_at.tzinfo is not None  # aware UTC on both databases
    assert row.locked_until is None
    assert row.tries == 0  # labels name the fields


def test_statement_without_rows_returns_an_empty_list(db: Database) -> None:
    plain = DriverStatement(JOBS.insert(), COLUMNS)
    assert db.mutation(lambda s: plain.rows(s, _job("driver.plain"))) == []
    assert db.query(lambda s: READ.rows(s, {"name": "driver.plain"}))[0].tries == 0


def test_driver_error_is_sqlalchemys_and_rolls_back(db: Database) -> None:
    db.mutation(lambda s: INSERT.rows(s, _job("driver.first", unique_key="k")))

    def duplicate(session: Session) -> None:
        INSERT.rows(session, _job("driver.second"))
        INSERT.rows(session, _job("driver.third", unique_key="k"))

    with pytest.raises(IntegrityError):
        db.mutation(duplicate)
    assert db.query(lambda s: READ.rows(s, {"name": "driver.second"})) == []


def test_statement_listeners_see_driver_statements(db: Database) -> None:
    seen: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = db.bind if not hasattr(db.bind, "engine") else db.bind.engine
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        db.query(lambda s: READ.rows(s, {"name": "nothing"}))
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    assert any("FROM jobs" in sql for sql in seen)
