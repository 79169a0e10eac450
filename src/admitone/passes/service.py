"""Issuing, revoking and reading passes. Passes know nothing of orders beyond their ids:
the orders domain calls these with plain values (passes come before orders)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.errors import ScopeNotFound
from admitone.access.service import Scope, require_capability
from admitone.core.clock import utcnow
from admitone.core.db import publish
from admitone.core.ids import EventId, OrderId, OrderItemId, PassId, TicketTierId, UserId
from admitone.core.pagination import Keyset, SortKey
from admitone.passes.codes import new_code, sign_qr
from admitone.passes.errors import NoPassRequests, PassNotFound
from admitone.passes.models import Pass, PassStatus
from admitone.settings import Settings

_CODE_ATTEMPTS = 5


@dataclass(frozen=True)
class PassRequest:
    """One admitted person."""

    order_item_id: OrderItemId
    tier_id: TicketTierId
    attendee_name: str | None
    attendee_email: str | None


def checkins_topic(event_id: EventId) -> str:
    return f"event:{event_id}:checkins"


def _fresh_codes(session: Session, n: int) -> list[str]:
    """`n` new codes, none already in the database (50 random bits make a clash rare; the
    unique index settles the one that slips between this check and the insert)."""
    codes: set[str] = set()
    while len(codes) < n:
        wanted = {new_code() for _ in range(n - len(codes))} - codes
        taken = set(session.scalars(select(Pass.code).where(Pass.code.in_(wanted))))
        codes |= wanted - taken
    return list(codes)


def issue_passes(
    session: Session,
    *,
    event_id: EventId,
    order_id: OrderId,
    holder_user_id: UserId | None,
    requests: Sequence[PassRequest],
) -> list[Pass]:
    """One valid pass per request, each with a unique random code, in the caller's
    transaction. Inserted inside a savepoint so that a code clash with a concurrent
    transaction is retried with new codes instead of failing the order."""
    if not requests:
        raise NoPassRequests()
    now = utcnow()
    for attempt in range(1, _CODE_ATTEMPTS + 1):
        codes = _fresh_codes(session, len(requests))
        passes = [
            Pass(
                id=PassId.new(),
                event_id=event_id,
                order_id=order_id,
                order_item_id=r.order_item_id,
                tier_id=r.tier_id,
                holder_user_id=holder_user_id,
                code=code,
                attendee_name=r.attendee_name,
                attendee_email=r.attendee_email,
                status=PassStatus.VALID,
                created_at=now,
                updated_at=now,
            )
            for r, code in zip(requests, codes, strict=True)
        ]
        try:
            with session.begin_nested():
                session.add_all(passes)
                session.flush()
        except IntegrityError:
            if attempt == _CODE_ATTEMPTS or not _code_clash(session, codes):
                raise
            continue
        publish(session, checkins_topic(event_id))
        return passes
    raise AssertionError("unreachable")


def _code_clash(session: Session, codes: list[str]) -> bool:
    return session.scalar(select(Pass.id).where(Pass.code.in_(codes)).limit(1)) is not None


def revoke_passes(
    session: Session,
    *,
    order_id: OrderId,
    order_item_id: OrderItemId | None = None,
    count: int | None = None,
    reason: str,
) -> list[Pass]:
    """Revokes the order's valid passes (of one item when given; the newest `count` when
    given) and returns them. The UPDATE is conditional on `status = 'valid'`, so a pass is
    revoked once even when two refunds race."""
    query = select(Pass.id).where(Pass.order_id == order_id, Pass.status == PassStatus.VALID)
    if order_item_id is not None:
        query = query.where(Pass.order_item_id == order_item_id)
    if count is not None:
        if count <= 0:
            return []
        query = query.order_by(Pass.created_at.desc(), Pass.id.desc()).limit(count)
    ids = list(session.scalars(query))
    if not ids:
        return []
    now = utcnow()
    revoked_ids = list(
        session.scalars(
            update(Pass)
            .where(Pass.id.in_(ids), Pass.status == PassStatus.VALID)
            .values(
                status=PassStatus.REVOKED,
                revoked_at=now,
                revoked_reason=reason[:200],
                updated_at=now,
            )
            .returning(Pass.id),
            execution_options={"synchronize_session": False},
        )
    )
    if not revoked_ids:
        return []
    revoked = list(
        session.scalars(
            select(Pass)
            .where(Pass.id.in_(revoked_ids))
            .order_by(Pass.created_at.desc(), Pass.id.desc())
            .execution_options(populate_existing=True)
        )
    )
    publish(session, *{checkins_topic(p.event_id) for p in revoked})
    return revoked


def passes_for_order(session: Session, order_id: OrderId) -> list[Pass]:
    return list(
        session.scalars(
            select(Pass).where(Pass.order_id == order_id).order_by(Pass.created_at, Pass.id)
        )
    )


def get_pass(session: Session, pass_id: PassId) -> Pass:
    found = session.get(Pass, pass_id)
    if found is None:
        raise PassNotFound()
    return found


# Newest first; the id breaks ties between passes of the same instant.
NEWEST = Keyset(
    SortKey(Pass.__table__.c.created_at, datetime, descending=True),
    SortKey(Pass.__table__.c.id, str, descending=True),
)


def passes_of_holder(
    session: Session, user_id: UserId, *, limit: int, cursor: str | None
) -> tuple[list[Pass], str | None]:
    """A page of the user's passes, newest first, and the next page's cursor (422
    `invalid_cursor` for one this API did not make)."""
    found, next_cursor = NEWEST.page(
        session, select(Pass).where(Pass.holder_user_id == user_id), limit=limit, cursor=cursor
    )
    return found, next_cursor


def pass_qr(settings: Settings, p: Pass) -> str:
    return sign_qr(settings.secret, pass_id=p.id, event_id=p.event_id, code=p.code)


def pass_view(settings: Settings, p: Pass) -> dict[str, Any]:
    """The pass as an order shows it: `{id, code, qr, tier_id, attendee_name, status}`."""
    return {
        "id": p.id,
        "code": p.code,
        "qr": pass_qr(settings, p),
        "tier_id": p.tier_id,
        "attendee_name": p.attendee_name,
        "status": p.status,
    }


def visible_pass(session: Session, user_id: UserId, pass_id: PassId) -> Pass:
    """The pass when the caller holds it or may read its event; 404 otherwise, so that a
    stranger cannot learn that a pass id exists."""
    found = get_pass(session, pass_id)
    if found.holder_user_id == user_id:
        return found
    try:
        require_capability(session, user_id, Capability.EVENT_READ, Scope.event(found.event_id))
    except ScopeNotFound as exc:
        raise PassNotFound() from exc
    return found
