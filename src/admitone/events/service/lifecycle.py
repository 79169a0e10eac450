"""Creating, editing, publishing, cancelling and ending events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Grant, Scope, record_audit, require_capability
from admitone.core import jobs, outbox
from admitone.core.clock import utcnow
from admitone.core.ids import EventId, OrganizationId, UserId
from admitone.core.pagination import Keyset, SortKey
from admitone.core.slugs import insert_with_unique_slug
from admitone.events import errors
from admitone.events.models import Event, EventSession, TicketTier
from admitone.events.schemas import (
    EventCreate,
    EventUpdate,
)
from admitone.events.service.covers import check_cover_reuse, release_file
from admitone.events.service.rules import (
    CANCEL_EVENT_JOB,
    as_utc,
    audit_changes,
    check_schedule,
    ensure_editable,
    guard_event,
    slugify,
    snapshot,
    validate_timezone,
)

# --- events -----------------------------------------------------------------------------


def create_event(
    session: Session, user_id: UserId, organization_id: OrganizationId, body: EventCreate
) -> Event:
    require_capability(
        session, user_id, Capability.EVENT_CREATE, Scope.organization(organization_id)
    )
    validate_timezone(body.timezone)
    starts_at, ends_at = body.starts_at.astimezone(UTC), body.ends_at.astimezone(UTC)
    check_schedule(starts_at, ends_at)
    if ends_at <= utcnow():
        raise errors.EventInPast()
    if body.cover_file_id is not None:
        check_cover_reuse(session, organization_id, body.cover_file_id)
    event = Event(
        id=EventId.new(),
        organization_id=organization_id,
        title=body.title,
        description=body.description,
        status="draft",
        visibility=body.visibility,
        timezone=body.timezone,
        starts_at=starts_at,
        ends_at=ends_at,
        venue_name=body.venue.name if body.venue else None,
        venue_address=body.venue.address if body.venue else None,
        online_url=str(body.online_url) if body.online_url else None,
        cover_file_id=body.cover_file_id,
        reservation_minutes=body.reservation_minutes,
    )
    insert_with_unique_slug(
        session,
        event,
        Event.slug,
        base=slugify(event.title),
        requested=body.slug,
        taken=lambda exhausted: errors.SlugTaken(
            "Could not find a free slug; pass one explicitly." if exhausted else None
        ),
    )
    record_audit(
        session,
        actor_user_id=user_id,
        action="event.created",
        target_type="event",
        target_id=event.id,
        organization_id=organization_id,
        after=snapshot(event, ("slug", "title", "starts_at", "ends_at", "visibility")),
    )
    return event


def by_start(model: Any, id_type: type[str]) -> Keyset:
    """Lists of events and sessions: by start time, then id."""
    return Keyset(SortKey(model.starts_at, datetime), SortKey(model.id, id_type))


EVENTS_BY_START = by_start(Event, EventId)


def list_events(
    session: Session,
    user_id: UserId,
    organization_id: OrganizationId,
    *,
    limit: int,
    cursor: str | None,
    status: str | None = None,
) -> tuple[list[Event], str | None]:
    """The organization's events by start time; a member limited to some events sees those."""
    grant: Grant = require_capability(
        session, user_id, Capability.EVENT_READ, Scope.organization(organization_id)
    )
    query = select(Event).where(Event.organization_id == organization_id)
    if grant.event_ids is not None:
        query = query.where(Event.id.in_(sorted(grant.event_ids)))
    if status is not None:
        query = query.where(Event.status == status)
    return EVENTS_BY_START.page(session, query, limit=limit, cursor=cursor)


def get_event(session: Session, user_id: UserId, event_id: EventId) -> Event:
    return guard_event(session, user_id, Capability.EVENT_READ, event_id)


_EVENT_FIELDS = (
    "title",
    "slug",
    "description",
    "visibility",
    "timezone",
    "starts_at",
    "ends_at",
    "venue_name",
    "venue_address",
    "online_url",
    "cover_file_id",
    "reservation_minutes",
)


def update_event(session: Session, user_id: UserId, event_id: EventId, body: EventUpdate) -> Event:
    """Changes what was sent. Cancelled and ended events are read-only; the slug is fixed
    once the event is published (links to it have been shared)."""
    event = guard_event(session, user_id, Capability.EVENT_UPDATE, event_id, lock=True)
    ensure_editable(event)
    before = snapshot(event, _EVENT_FIELDS)
    sent = body.model_fields_set
    changes: dict[str, Any] = {}
    if "timezone" in sent:
        changes["timezone"] = validate_timezone(body.timezone or "")
    for name in ("title", "description", "visibility", "reservation_minutes"):
        if name in sent:
            changes[name] = getattr(body, name)
    if "venue" in sent:
        changes["venue_name"] = body.venue.name if body.venue else None
        changes["venue_address"] = body.venue.address if body.venue else None
    if "online_url" in sent:
        changes["online_url"] = str(body.online_url) if body.online_url else None
    if "cover_file_id" in sent:
        if body.cover_file_id is not None:
            check_cover_reuse(
                session, event.organization_id, body.cover_file_id, event.cover_file_id
            )
        changes["cover_file_id"] = body.cover_file_id
    if "starts_at" in sent or "ends_at" in sent:
        starts_at = as_utc(body.starts_at) or event.starts_at
        ends_at = as_utc(body.ends_at) or event.ends_at
        check_schedule(starts_at, ends_at)
        if ends_at <= utcnow():
            raise errors.EventInPast()
        first, last = session.execute(
            select(func.min(EventSession.starts_at), func.max(EventSession.ends_at)).where(
                EventSession.event_id == event.id
            )
        ).one()
        if first is not None and (first < starts_at or last > ends_at):
            raise errors.SessionOutsideEvent(
                "Some sessions would fall outside the new dates; move them first."
            )
        changes["starts_at"], changes["ends_at"] = starts_at, ends_at
    slug_changed = "slug" in sent and body.slug != event.slug
    if slug_changed and event.status != "draft":
        raise errors.EventNotEditable("The slug of a published event cannot change.")
    for name, value in changes.items():
        setattr(event, name, value)
    if slug_changed:
        event.slug = body.slug or event.slug
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError as exc:
            raise errors.SlugTaken() from exc
    session.flush()
    if before["cover_file_id"] not in (None, event.cover_file_id):
        release_file(session, before["cover_file_id"])
    after = snapshot(event, _EVENT_FIELDS)
    _tell_holders(session, event, before, after)
    audit_changes(
        session,
        actor_user_id=user_id,
        action="event.updated",
        target_type="event",
        target_id=event.id,
        organization_id=event.organization_id,
        before=before,
        after=after,
    )
    return event


def _change_summary(before: dict[str, Any], after: dict[str, Any]) -> str:
    """What a holder needs to know in a line: the new time, the new place."""
    said: list[str] = []
    if before["starts_at"] != after["starts_at"] or before["ends_at"] != after["ends_at"]:
        said.append(f"Now starts {after['starts_at']} (UTC), ends {after['ends_at']}.")
    if (
        before["venue_name"] != after["venue_name"]
        or before["venue_address"] != after["venue_address"]
    ):
        place = ", ".join(p for p in (after["venue_name"], after["venue_address"]) if p)
        said.append(f"New venue: {place}." if place else "The venue was removed.")
    if before["online_url"] != after["online_url"]:
        said.append("The online link changed.")
    return " ".join(said)


def _tell_holders(
    session: Session, event: Event, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """A published event whose time or place changed: its holders are notified."""
    summary = _change_summary(before, after)
    if event.status != "published" or not summary:
        return
    outbox.notify(
        session,
        "event_changed",
        event_holders=event.id,
        data={"event_id": event.id, "event_title": event.title, "summary": summary},
    )


def publish_event(session: Session, user_id: UserId, event_id: EventId) -> Event:
    """`draft -> published` (a repeat is a no-op). Refused without a tier, or when over."""
    event = guard_event(session, user_id, Capability.EVENT_PUBLISH, event_id)
    if event.status == "published":
        return event
    ensure_editable(event)
    if event.ends_at <= utcnow():
        raise errors.EventInPast()
    now = utcnow()
    # One statement decides: still a draft, and has a tier (tiers are never deleted).
    result = session.execute(
        update(Event)
        .where(
            Event.id == event_id,
            Event.status == "draft",
            exists().where(TicketTier.event_id == Event.id),
        )
        .values(status="published", published_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(event)
    if result.rowcount == 0:  # type: ignore[attr-defined]
        if event.status == "published":
            return event  # a concurrent publish won; same outcome
        ensure_editable(event)
        raise errors.EventHasNoTiers()
    record_audit(
        session,
        actor_user_id=user_id,
        action="event.published",
        target_type="event",
        target_id=event.id,
        organization_id=event.organization_id,
        before={"status": "draft"},
        after={"status": "published"},
    )
    return event


def cancel_event(session: Session, user_id: UserId, event_id: EventId) -> Event:
    """`draft | published -> cancelled` (a repeat is a no-op) and schedules
    `orders.cancel_event` once, so the orders domain refunds and cancels its orders."""
    event = guard_event(session, user_id, Capability.EVENT_PUBLISH, event_id)
    now = utcnow()
    previous = event.status
    result = session.execute(
        update(Event)
        .where(Event.id == event_id, Event.status.in_(("draft", "published")))
        .values(status="cancelled", cancelled_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(event)
    if result.rowcount == 0:  # type: ignore[attr-defined]
        if event.status == "cancelled":
            return event
        raise errors.EventNotEditable("An ended event cannot be cancelled.")
    jobs.schedule(
        session,
        CANCEL_EVENT_JOB,
        {"event_id": event.id},
        unique_key=f"{CANCEL_EVENT_JOB}:{event.id}",
    )
    # Holders of its passes (the refunds revoke them: the audience counts those too).
    outbox.notify(
        session,
        "event_cancelled",
        event_holders=event.id,
        data={"event_id": event.id, "event_title": event.title},
    )
    record_audit(
        session,
        actor_user_id=user_id,
        action="event.cancelled",
        target_type="event",
        target_id=event.id,
        organization_id=event.organization_id,
        before={"status": previous},
        after={"status": "cancelled"},
    )
    return event


def end_past_events(session: Session, now: datetime | None = None) -> int:
    """Marks published events whose end has passed as ended; returns how many."""
    now = now or utcnow()
    result = session.execute(
        update(Event)
        .where(Event.status == "published", Event.ends_at <= now)
        .values(status="ended", ended_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
