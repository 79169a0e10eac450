"""Core INSERTs of model rows on the driver: the hot paths' cheaper unit of work.

`insert_rows(session, rows)` writes fully populated, transient model objects of one class
with one INSERT (executemany for several) through a `DriverStatement` built once per
table; the objects stay out of the session (callers render them as they are).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from admitone.core.db import DriverStatement

_INSERTS: dict[str, tuple[DriverStatement, list[str]]] = {}


def insert_statement(model: Any) -> tuple[DriverStatement, list[str]]:
    """`INSERT INTO <table>` of every column and the column keys, built once per table."""
    name: str = model.__tablename__
    found = _INSERTS.get(name)
    if found is None:
        table = model.__table__
        keys = [c.key for c in table.columns]
        found = _INSERTS[name] = (DriverStatement(insert(table), keys), keys)
    return found


def insert_rows(session: Session, rows: Sequence[Any]) -> None:
    """Inserts fully populated, transient model objects of one class with one INSERT
    (executemany for several) on the driver, leaving them out of the session."""
    if not rows:
        return
    stmt, keys = insert_statement(type(rows[0]))
    values = [{k: getattr(r, k) for k in keys} for r in rows]
    if len(values) == 1:
        stmt.rows(session, values[0])
    else:
        stmt.execute_many(session, values)


def insert_values(session: Session, model: Any, values: dict[str, Any]) -> None:
    """One row of `model` from a dict naming every column."""
    insert_statement(model)[0].rows(session, values)
