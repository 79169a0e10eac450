"""Agenda sessions (time slots) of an event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import record_audit
from admitone.core.http import encode_cursor
from admitone.core.ids import EventId, EventSessionId, UserId
from admitone.events import errors
from admitone.events.models import EventSession
from admitone.events.schemas import (
    SessionCreate,
)
from admitone.events.service.lifecycle import (
    decode_event_cursor,
)
from admitone.events.service.rules import (
    check_schedule,
    ensure_editable,
    guard_event,
    jsonable,
    snapshot,
)

# --- sessions (agenda slots) ------------------------------------------------------------


def page_by_position(
    rows: Sequence[Any], limit: int, key: tuple[str, str]
) -> tuple[list[Any], str | None]:
    if len(rows) <= limit:
        return list(rows), None
    last = rows[limit - 1]
    return list(rows[:limit]), encode_cursor(*(jsonable(getattr(last, k)) for k in key))


def list_sessions(
    session: Session, user_id: UserId, event_id: EventId, *, limit: int, cursor: str | None
) -> tuple[list[EventSession], str | None]:
    guard_event(session, user_id, Capability.EVENT_READ, event_id)
    query = select(EventSession).where(EventSession.event_id == event_id)
    after = decode_event_cursor(cursor)
    if after is not None:
        query = query.where(
            or_(
                EventSession.starts_at > after[0],
                and_(EventSession.starts_at == after[0], EventSession.id > after[1]),
            )
        )
    rows = session.scalars(
        query.order_by(EventSession.starts_at, EventSession.id).limit(limit + 1)
    ).all()
    return page_by_position(rows, limit, ("starts_at", "id"))


def add_session(
    session: Session, user_id: UserId, event_id: EventId, body: SessionCreate
) -> EventSession:
    """An agenda slot; it must lie within the event's start and end."""
    event = guard_event(session, user_id, Capability.EVENT_UPDATE, event_id, lock=True)
    ensure_editable(event)
    starts_at, ends_at = body.starts_at.astimezone(UTC), body.ends_at.astimezone(UTC)
    check_schedule(starts_at, ends_at)
    if starts_at < event.starts_at or ends_at > event.ends_at:
        raise errors.SessionOutsideEvent()
    slot = EventSession(
        id=EventSessionId.new(),
        event_id=event.id,
        title=body.title,
        starts_at=starts_at,
        ends_at=ends_at,
        location=body.location,
    )
    session.add(slot)
    session.flush()
    record_audit(
        session,
        actor_user_id=user_id,
        action="events.session.created",
        target_type="event_session",
        target_id=slot.id,
        organization_id=event.organization_id,
        after=snapshot(slot, ("event_id", "title", "starts_at", "ends_at")),
    )
    return slot
