"""The one keyset helper: cursors it made walk a list exactly once; any other is 422."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, insert
from sqlalchemy import select as sa_select
from sqlalchemy.orm import Session

from admitone.core.pagination import InvalidCursor, Keyset, SortKey, encode_cursor

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", String, primary_key=True),
    Column("created_at", DateTime(timezone=True)),
    Column("rank", Integer),
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)

NEWEST = Keyset(
    SortKey(things.c.created_at, datetime, descending=True),
    SortKey(things.c.id, str, descending=True),
)
BY_RANK = Keyset(SortKey(things.c.rank, int), SortKey(things.c.id, str))


@pytest.fixture
def session() -> Session:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    rows = [
        # several rows share a timestamp and a rank so the id must break ties
        {"id": f"t{i:02d}", "created_at": T0 + timedelta(minutes=i // 3), "rank": i % 4}
        for i in range(23)
    ]
    with engine.begin() as conn:
        conn.execute(insert(things), rows)
    return Session(engine)


def _walk(session: Session, keyset: Keyset, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        rows, cursor = keyset.page(
            session, sa_select(things), limit=limit, cursor=cursor, scalars=False
        )
        seen += [r.id for r in rows]
        if cursor is None:
            return seen


@pytest.mark.parametrize("limit", [1, 2, 5, 22, 23, 50])
def test_pages_visit_every_row_once_in_order(session: Session, limit: int) -> None:
    seen = _walk(session, NEWEST, limit)
    expected = sorted(
        session.execute(sa_select(things)).all(),
        key=lambda r: (r.created_at, r.id),
        reverse=True,
    )
    assert seen == [r.id for r in expected]
    by_rank = _walk(session, BY_RANK, limit)
    assert by_rank == [
        r.id for r in sorted(session.execute(sa_select(things)).all(), key=lambda r: (r.rank, r.id))
    ]


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        _b64(["x", "y"]),  # not a timestamp
        _b64([1, 2, 3]),  # wrong length
        _b64([None, None]),
        _b64([1]),
        _b64({"a": 1}),
        _b64("2026-01-01T00:00:00+00:00"),
        _b64(["2026-01-01T00:00:00", "t01"]),  # naive time
        _b64(["2026-01-01T00:00:00+00:00", 5]),  # id not a string
        _b64(["2026-01-01T00:00:00+00:00", "x" * 500]),
        "not base64!",
        "",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_cursor_it_did_not_make_is_invalid(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        NEWEST.decode(cursor)


@pytest.mark.parametrize("cursor", [_b64([True, "t1"]), _b64([1.5, "t1"]), _b64(["1", "t1"])])
def test_integer_keys_refuse_other_json_types(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        BY_RANK.decode(cursor)


def test_a_cursor_round_trips_its_typed_values() -> None:
    cursor = encode_cursor(T0 + timedelta(hours=1), "t05")
    assert NEWEST.decode(cursor) == (T0 + timedelta(hours=1), "t05")
