"""Plain jobs are held on the session and inserted together just before commit: one
statement for all of a transaction's jobs, none after a rollback, none from a savepoint
that rolled back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from admitone.core import jobs
from admitone.core.db import Database
from admitone.core.jobs import Job


def _jobs(db: Database) -> list[tuple[str, dict[str, Any]]]:
    return db.query(
        lambda s: [(j.name, j.args) for j in s.scalars(select(Job).order_by(Job.created_at))]
    )


@pytest.fixture
def job_inserts(db: Database) -> Iterator[list[str]]:
    """The INSERT INTO jobs statements sent to the database."""
    engine = db.bind if isinstance(db.bind, Engine) else db.bind.engine
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO JOBS"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_transactions_jobs_go_in_one_insert_at_commit(
    db: Database, job_inserts: list[str]
) -> None:
    def order(session: Session) -> None:
        jobs.schedule(session, "test.a", {"n": 1})
        jobs.schedule(session, "test.b", {"n": 2})
        jobs.schedule(session, "test.c", {"n": 3})
        assert job_inserts == []  # held until the commit

    db.mutation(order)
    assert len(job_inserts) == 1
    assert _jobs(db) == [("test.a", {"n": 1}), ("test.b", {"n": 2}), ("test.c", {"n": 3})]


def test_more_jobs_than_a_chunk_are_all_inserted(db: Database, job_inserts: list[str]) -> None:
    count = jobs._CHUNK * 2 + 3
    db.mutation(lambda s: [jobs.schedule(s, "test.many", {"n": i}) for i in range(count)])
    assert len(job_inserts) == 3
    assert sorted(args["n"] for _, args in _jobs(db)) == list(range(count))


def test_a_rolled_back_transactions_jobs_are_not_inserted_by_the_next_commit(
    db: Database,
) -> None:
    with db.session() as session:
        jobs.schedule(session, "test.rolled-back", {})
        session.rollback()
        jobs.schedule(session, "test.kept", {})
    assert _jobs(db) == [("test.kept", {})]


def test_a_job_scheduled_in_a_savepoint_that_rolls_back_is_gone(db: Database) -> None:
    def work(session: Session) -> None:
        jobs.schedule(session, "test.outer", {})
        savepoint = session.begin_nested()
        jobs.schedule(session, "test.inner", {})
        savepoint.rollback()
        with session.begin_nested():
            jobs.schedule(session, "test.released", {})

    db.mutation(work)
    assert sorted(name for name, _ in _jobs(db)) == ["test.outer", "test.released"]


def test_insert_scheduled_makes_them_readable_before_commit(db: Database) -> None:
    def work(session: Session) -> list[str]:
        jobs.schedule(session, "test.early", {})
        jobs.insert_scheduled(session)
        return list(session.scalars(select(Job.name)))

    assert db.mutation(work) == ["test.early"]
    assert _jobs(db) == [("test.early", {})]  # and not inserted twice at commit


def test_arguments_come_back_as_they_were_given(db: Database) -> None:
    from admitone.orders.models import OrderStatus

    given = {
        "order": {"id": "ord_1", "status": OrderStatus.PENDING, "total": "NGN 5,000.00"},
        "buyer": {"name": "Adaọbi Ọkafọr", "note": 'quote " and \\ and \n', "user_id": None},
        "items": [{"quantity": 2, "price": 12.5, "free": False}],
        "big": 2**70,
    }
    db.mutation(lambda s: jobs.schedule(s, "test.args", given))
    [(_, args)] = _jobs(db)
    assert args == {**given, "order": {**given["order"], "status": "pending"}}


def test_json_columns_encode_as_the_stdlib_reads_them() -> None:
    """orjson writes the columns; what it writes must read back as json.dumps' output did."""
    import json

    from admitone.core.db import dump_json

    value = {1: "int key", "name": "Adaọbi", "nested": [1.5, None, True], "big": 2**70}
    assert json.loads(dump_json(value)) == json.loads(json.dumps(value))
    assert json.loads(dump_json({"k": 1})) == {"k": 1}
