"""Cursor pagination for every list: one keyset helper that makes, checks and applies cursors.

A list declares its order once as a `Keyset` of sort keys (unique together, e.g.
`created_at, id`). The cursor is the last row's key values, JSON in URL-safe base64; a
cursor this helper did not make (wrong shape, wrong types, not base64) is a 422
`invalid_cursor`, never a 500.

    NEWEST = Keyset(SortKey(Order.created_at, datetime, descending=True),
                    SortKey(Order.id, str, descending=True))
    rows, next_cursor = NEWEST.page(session, select(Order).where(...), limit=50, cursor=c)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from admitone.core.errors import Invalid
from admitone.core.ids import PrefixedId

CursorValue = datetime | str | int
AnySelect = Select[*tuple[Any, ...]]
MAX_CURSOR_STRING = 200


class InvalidCursor(Invalid):
    code = "invalid_cursor"
    message = "The cursor is not one this API returned."


@dataclass(frozen=True)
class SortKey:
    """One column of a list's order, with the Python type its cursor value must have."""

    column: ColumnElement[Any] | InstrumentedAttribute[Any]
    kind: type[datetime] | type[str] | type[int]  # str: any string; a PrefixedId: that id
    descending: bool = False
    # How to read this key from a returned item; default: the column's name as an attribute
    # (an ORM entity, or a Row with that label).
    attribute: str | None = None

    @property
    def name(self) -> str:
        return self.attribute or str(self.column.key)


def encode_cursor(*values: CursorValue) -> str:
    plain = [v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode()


def decode_cursor(cursor: str | None) -> list[Any] | None:
    """The JSON list a cursor carries (shape unchecked), or 422 `invalid_cursor`."""
    if cursor is None:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(values, list):
        raise InvalidCursor()
    return values


def _typed(value: Any, kind: type) -> CursorValue:
    if kind is datetime:
        if not isinstance(value, str):
            raise InvalidCursor()
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidCursor() from exc
        if moment.tzinfo is None:
            raise InvalidCursor()
        return moment.astimezone(UTC)
    if kind is int:
        # bool is an int in Python, not in a cursor we made
        if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 2**63:
            raise InvalidCursor()
        return value
    if not isinstance(value, str) or len(value) > MAX_CURSOR_STRING:
        raise InvalidCursor()
    if issubclass(kind, PrefixedId):  # a typed id: the right prefix and shape, or refused
        try:
            return kind.parse(value)
        except ValueError as exc:
            raise InvalidCursor() from exc
    return value


class Keyset:
    """A list's order: its sort keys, the cursor they make and the condition past it."""

    def __init__(self, *keys: SortKey) -> None:
        if not keys:
            raise ValueError("a keyset needs at least one sort key")
        self.keys = keys

    def decode(self, cursor: str | None) -> tuple[CursorValue, ...] | None:
        """The typed position a cursor names; 422 `invalid_cursor` for any other shape."""
        values = decode_cursor(cursor)
        if values is None:
            return None
        if len(values) != len(self.keys):
            raise InvalidCursor()
        return tuple(_typed(v, k.kind) for v, k in zip(values, self.keys, strict=True))

    def encode(self, item: Any) -> str:
        return encode_cursor(*(self.value_of(item, k) for k in self.keys))

    @staticmethod
    def value_of(item: Any, key: SortKey) -> CursorValue:
        value: CursorValue = getattr(item, key.name)
        return value

    def after(self, position: Sequence[CursorValue]) -> ColumnElement[bool]:
        """Rows strictly after `position` in this order (expanded, so SQLite and PostgreSQL
        both use the index and mixed directions work)."""
        clauses = []
        for i, key in enumerate(self.keys):
            equal = [k.column == position[j] for j, k in enumerate(self.keys[:i])]
            beyond = key.column < position[i] if key.descending else key.column > position[i]
            clauses.append(and_(*equal, beyond))
        return or_(*clauses)

    def order_by(self) -> list[Any]:
        return [k.column.desc() if k.descending else k.column.asc() for k in self.keys]

    def apply(self, query: AnySelect, cursor: str | None, limit: int) -> AnySelect:
        """`query` ordered, past the cursor, and limited to one row more than a page (to
        know whether another page follows)."""
        position = self.decode(cursor)
        if position is not None:
            query = query.where(self.after(position))
        return query.order_by(*self.order_by()).limit(limit + 1)

    def cut(
        self, rows: Sequence[Any], limit: int, key_of: Callable[[Any], Any] | None = None
    ) -> tuple[list[Any], str | None]:
        """A page of `rows` (fetched with `apply`) and the cursor of the next, if any.
        `key_of` picks the object that carries the keys from a row (default: the row)."""
        if len(rows) <= limit:
            return list(rows), None
        last = rows[limit - 1]
        return list(rows[:limit]), self.encode(key_of(last) if key_of else last)

    def page(
        self,
        session: Session,
        query: AnySelect,
        *,
        limit: int,
        cursor: str | None,
        scalars: bool = True,
        key_of: Callable[[Any], Any] | None = None,
    ) -> tuple[list[Any], str | None]:
        """Runs `query` for one page: `(items, next_cursor)`. With `scalars=False` the items
        are rows (several entities or columns); `key_of` then picks the keyed object."""
        statement = self.apply(query, cursor, limit)
        result = session.execute(statement)
        rows = list(result.scalars() if scalars else result.all())
        return self.cut(rows, limit, key_of)
