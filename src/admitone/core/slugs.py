"""URL slugs from titles, and inserting a row under a free one (events, DP campaigns)."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(title: str, fallback: str) -> str:
    """ASCII, lower case, words joined by `-`, at most 60 characters; `fallback` when
    nothing of the title survives (a title in a non-Latin script)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_title.lower()).strip("-")
    if len(slug) > 60:
        slug = slug[:60].rsplit("-", 1)[0] or slug[:60]
    return slug or fallback


def insert_with_unique_slug(
    session: Session,
    row: Any,
    column: InstrumentedAttribute[str],
    *,
    base: str,
    requested: str | None,
    taken: Callable[[bool], Exception],
) -> None:
    """Adds `row` (flushed, in a savepoint) under `requested`, or else under `base`, or
    `base-2`, `base-3`... the first that no row has. A slug taken by a concurrent insert is
    caught by the unique constraint and a random suffix tried instead, eight times at most.
    Raises `taken(False)` when `requested` is taken, `taken(True)` when no free one was
    found."""
    if requested is not None:
        setattr(row, column.key, requested)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError as exc:
            raise taken(False) from exc
        return
    used = set(session.scalars(select(column).where(or_(column == base, column.like(f"{base}-%")))))
    candidate = next(
        c for c in (base, *(f"{base}-{n}" for n in range(2, len(used) + 3))) if c not in used
    )
    for _ in range(8):
        setattr(row, column.key, candidate)
        try:
            with session.begin_nested():
                session.add(row)
            return
        except IntegrityError:
            # Someone took it between our read and our insert: fall back to a random suffix.
            if row in session:
                session.expunge(row)
            candidate = f"{base}-{secrets.token_hex(3)}"
    raise taken(True)
