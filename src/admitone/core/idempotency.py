"""Idempotency keys for POSTs that create orders, payments or refunds.

`begin` claims (scope, key) in its own short transaction. The business mutation calls
`finish` inside *its* transaction, so the stored response commits atomically with the
order it describes: a retry after a crash can never create a second order. A failure that
changes nothing calls `abandon`. Records are kept 24 hours.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from admitone.core.clock import utcnow
from admitone.core.db import Base, Database, Timestamped, id_column
from admitone.core.errors import Conflict, Invalid
from admitone.core.ids import IdempotencyKeyId

KEEP_FOR = timedelta(hours=24)
# A request still "in progress" after this long died with its process; a retry may take over.
STALE_AFTER = timedelta(seconds=60)


class IdempotencyRecord(Timestamped, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[IdempotencyKeyId] = id_column()
    scope: Mapped[str] = mapped_column(String(120))  # caller + route
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))  # in_progress, done
    response_status: Mapped[int | None]
    response_body: Mapped[dict[str, Any] | None]
    expires_at: Mapped[datetime]
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    message = "A request with this Idempotency-Key is still being processed; retry shortly."


class IdempotencyKeyReused(Invalid):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used with a different request body."


class InvalidIdempotencyKey(Invalid):
    code = "invalid_idempotency_key"
    message = "Idempotency-Key must be 1 to 255 printable characters."


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Started:
    record_id: str


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def begin(
    db: Database, *, scope: str, key: str, body_hash: str, user_id: str | None = None
) -> Replay | Started:
    """Claims the key, or returns the stored response of the first request with it."""
    if not key or len(key) > 255 or not key.isprintable():
        raise InvalidIdempotencyKey()

    def _claim(session: Session) -> Replay | Started:
        now = utcnow()
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
                IdempotencyRecord.expires_at < now,
            )
        )
        record_id = IdempotencyKeyId.new()
        ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        inserted = session.execute(
            ins(IdempotencyRecord)
            .values(
                id=record_id,
                scope=scope,
                key=key,
                request_hash=body_hash,
                status="in_progress",
                expires_at=now + KEEP_FOR,
                user_id=user_id,
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyRecord.id)
        ).scalar_one_or_none()
        if inserted is not None:
            return Started(inserted)
        existing = session.execute(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        ).scalar_one()
        if existing.request_hash != body_hash:
            raise IdempotencyKeyReused()
        if existing.status == "done":
            assert existing.response_status is not None
            assert existing.response_body is not None
            return Replay(existing.response_status, existing.response_body)
        if existing.created_at < now - STALE_AFTER:
            taken = session.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.id == existing.id,
                    IdempotencyRecord.created_at == existing.created_at,
                )
                .values(created_at=now)
            )
            if getattr(taken, "rowcount", 0) == 1:
                return Started(existing.id)
        raise IdempotencyInProgress()

    return db.mutation(_claim)


def finish(session: Session, started: Started | None, status: int, body: dict[str, Any]) -> None:
    """Stores the response in the caller's transaction (no-op without a key)."""
    if started is None:
        return
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == started.record_id)
        .values(status="done", response_status=status, response_body=body)
    )


def abandon(db: Database, started: Started | None) -> None:
    """Releases the key after a failure that changed nothing, so a retry runs afresh."""
    if started is None:
        return

    def _drop(session: Session) -> None:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.id == started.record_id, IdempotencyRecord.status == "in_progress"
            )
        )

    db.mutation(_drop)
