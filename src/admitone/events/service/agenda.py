"""Agenda sessions (time slots) of an event."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import record_audit
from admitone.core.ids import EventId, EventSessionId, UserId
from admitone.events import errors
from admitone.events.models import Event, EventSession, TicketTier, ticket_tier_sessions
from admitone.events.schemas import (
    SessionCreate,
    SessionUpdate,
)
from admitone.events.service.lifecycle import (
    by_start,
)
from admitone.events.service.rules import (
    as_utc,
    audit_changes,
    check_schedule,
    ensure_editable,
    guard_event,
    snapshot,
)
from admitone.events.session_uses import session_uses

# --- sessions (agenda slots) ------------------------------------------------------------


SESSIONS_BY_START = by_start(EventSession, EventSessionId)


def list_sessions(
    session: Session, user_id: UserId, event_id: EventId, *, limit: int, cursor: str | None
) -> tuple[list[EventSession], str | None]:
    guard_event(session, user_id, Capability.EVENT_READ, event_id)
    query = select(EventSession).where(EventSession.event_id == event_id)
    return SESSIONS_BY_START.page(session, query, limit=limit, cursor=cursor)


def _check_within_event(event: Event, starts_at: datetime, ends_at: datetime) -> None:
    check_schedule(starts_at, ends_at)
    if starts_at < event.starts_at or ends_at > event.ends_at:
        raise errors.SessionOutsideEvent()


def add_session(
    session: Session, user_id: UserId, event_id: EventId, body: SessionCreate
) -> EventSession:
    """An agenda slot; it must lie within the event's start and end."""
    event = guard_event(session, user_id, Capability.EVENT_UPDATE, event_id, lock=True)
    ensure_editable(event)
    starts_at, ends_at = body.starts_at.astimezone(UTC), body.ends_at.astimezone(UTC)
    _check_within_event(event, starts_at, ends_at)
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
        action="event_session.created",
        target_type="event_session",
        target_id=slot.id,
        organization_id=event.organization_id,
        after=snapshot(slot, ("event_id", "title", "starts_at", "ends_at")),
    )
    return slot


_SESSION_FIELDS = ("title", "starts_at", "ends_at", "location")


def _guard_session(
    session: Session, user_id: UserId, session_id: EventSessionId
) -> tuple[Event, EventSession]:
    """The session and its event (row-locked: session changes serialize with tier changes,
    which link tiers to sessions under the same lock) if the caller may edit the event; a
    caller with no role there gets `session_not_found`, as for an unknown id."""
    event_id = session.scalar(select(EventSession.event_id).where(EventSession.id == session_id))
    if event_id is None:
        raise errors.SessionNotFound()
    try:
        event = guard_event(session, user_id, Capability.EVENT_UPDATE, event_id, lock=True)
    except errors.EventNotFound as exc:
        raise errors.SessionNotFound() from exc
    ensure_editable(event)
    slot = session.scalars(
        select(EventSession)
        .where(EventSession.id == session_id)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if slot is None:  # deleted while we waited for the event's lock
        raise errors.SessionNotFound()
    return event, slot


def update_session(
    session: Session, user_id: UserId, session_id: EventSessionId, body: SessionUpdate
) -> EventSession:
    """Changes what was sent; the session must still lie within the event's start and end."""
    event, slot = _guard_session(session, user_id, session_id)
    before = snapshot(slot, _SESSION_FIELDS)
    sent = body.model_fields_set
    if "starts_at" in sent or "ends_at" in sent:
        starts_at = as_utc(body.starts_at) or slot.starts_at
        ends_at = as_utc(body.ends_at) or slot.ends_at
        _check_within_event(event, starts_at, ends_at)
        slot.starts_at, slot.ends_at = starts_at, ends_at
    if body.title is not None:
        slot.title = body.title
    if "location" in sent:
        slot.location = body.location
    session.flush()
    after = snapshot(slot, _SESSION_FIELDS)
    audit_changes(
        session,
        actor_user_id=user_id,
        action="event_session.updated",
        target_type="event_session",
        target_id=slot.id,
        organization_id=event.organization_id,
        before=before,
        after=after,
    )
    return slot


def delete_session(session: Session, user_id: UserId, session_id: EventSessionId) -> None:
    """Deletes an agenda session nothing uses. A tier limited to it, or a check-in checkpoint
    for it, would silently change meaning (a tier limited to no session admits to every
    one), so those refuse with `session_in_use` listing them.

    The database decides: one DELETE whose NOT EXISTS conditions see the links, with the
    foreign keys from `ticket_tier_sessions` and `checkpoints` as the backstop for a link
    committed meanwhile (an IntegrityError, inside a savepoint, becomes the same error)."""
    event, slot = _guard_session(session, user_id, session_id)
    before = snapshot(slot, ("event_id", *_SESSION_FIELDS))
    tier_links = (
        select(ticket_tier_sessions.c.tier_id)
        .join(TicketTier, TicketTier.id == ticket_tier_sessions.c.tier_id)
        .where(TicketTier.event_id == event.id, ticket_tier_sessions.c.session_id == session_id)
    )
    uses = session_uses()
    others = [
        ~select(use.id).where(use.event_id == event.id, use.session_id == session_id).exists()
        for use in uses
    ]
    deleted = 0
    try:
        with session.begin_nested():
            result = session.execute(
                delete(EventSession)
                .where(
                    EventSession.id == session_id,
                    ~tier_links.exists(),
                    *others,
                )
                .execution_options(synchronize_session=False)
            )
            deleted = result.rowcount  # type: ignore[attr-defined]
    except IntegrityError:
        deleted = 0
    if not deleted:
        # What uses it, for the error only; not scoped to the event, unlike the conditions
        # (which the event scope keeps on indexes), so nothing the foreign keys saw is missed.
        tier_ids = sorted(
            session.scalars(
                select(ticket_tier_sessions.c.tier_id).where(
                    ticket_tier_sessions.c.session_id == session_id
                )
            )
        )
        used_by = {
            use.key: sorted(session.scalars(select(use.id).where(use.session_id == session_id)))
            for use in uses
        }
        checkpoint_ids = used_by.get("checkpoint_ids", [])
        raise errors.SessionInUse(
            f"Used by {len(tier_ids)} ticket tier(s) and {len(checkpoint_ids)} check-in "
            "checkpoint(s); change or remove them first.",
            tier_ids=tier_ids,
            **used_by,
        )
    session.expunge(slot)
    record_audit(
        session,
        actor_user_id=user_id,
        action="event_session.deleted",
        target_type="event_session",
        target_id=session_id,
        organization_id=event.organization_id,
        before=before,
    )
