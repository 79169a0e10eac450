"""Event rules: creating and editing events, their lifecycle, agenda sessions and ticket tiers.

Lifecycle: `draft -> published -> ended`, and `draft | published -> cancelled`. Publishing
needs a tier; cancelling schedules `orders.cancel_event` so the orders domain refunds and
cancels (events never imports orders); the `events.end_past` cron ends published events
whose end has passed. Cancelled and ended events are read-only.

Stock lives on `ticket_tiers` (`held_count`, `sold_count`) and is changed only by the
orders domain's conditional updates; this module changes `capacity` with a conditional
update of its own so it can never drop below what is held or sold.

Helpers for other domains (documented in docs/events.md): `event_for_sale`,
`tiers_for_sale`, `tier_session_ids`, `hash_access_code`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.errors import ScopeNotFound
from admitone.access.service import Grant, Scope, record_audit, require_capability
from admitone.core import jobs
from admitone.core.clock import utcnow
from admitone.core.files import File
from admitone.core.http import InvalidCursor, decode_cursor, encode_cursor
from admitone.core.ids import EventId, EventSessionId, OrganizationId, TicketTierId, UserId
from admitone.events import errors
from admitone.events.currencies import is_currency
from admitone.events.models import Event, EventSession, TicketTier, ticket_tier_sessions
from admitone.events.schemas import (
    EventCreate,
    EventUpdate,
    Money,
    PublicEventOut,
    PublicOrganizer,
    PublicTierOut,
    SessionCreate,
    SessionOut,
    TierCreate,
    TierUpdate,
    Venue,
)
from admitone.orgs.models import Organization

CANCEL_EVENT_JOB = "orders.cancel_event"
_CLOSED = ("cancelled", "ended")


# --- small rules ------------------------------------------------------------------------


@cache
def _zones() -> frozenset[str]:
    # The system database also lists files that are not zone names a person picks.
    return frozenset(
        z
        for z in zoneinfo.available_timezones()
        if z not in {"localtime", "posixrules", "Factory"}
        and not z.startswith(("posix/", "right/"))
    )


def validate_timezone(name: str) -> str:
    if name not in _zones():
        raise errors.InvalidTimezone(f"`{name[:64]}` is not an IANA timezone name.")
    return name


def validate_currency(code: str) -> str:
    if not is_currency(code):
        raise errors.InvalidCurrency(f"`{code}` is not an ISO 4217 currency code.")
    return code


def slugify(title: str) -> str:
    """ASCII, lower case, words joined by `-`, at most 60 characters; `event` when nothing of
    the title survives (a title in a non-Latin script)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    if len(slug) > 60:
        slug = slug[:60].rsplit("-", 1)[0] or slug[:60]
    return slug or "event"


def hash_access_code(secret: bytes, code: str) -> str:
    """HMAC-SHA256 of the code, case-insensitive; only this is stored."""
    normalized = code.strip().upper().encode()
    return hmac.new(secret, b"tier-access-code:" + normalized, hashlib.sha256).hexdigest()


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _snapshot(row: Any, fields: Iterable[str]) -> dict[str, Any]:
    return {f: _json(getattr(row, f)) for f in fields}


def _check_schedule(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise errors.InvalidSchedule()


# --- guards -----------------------------------------------------------------------------


def _guard_event(
    session: Session, user_id: str, capability: Capability, event_id: str, *, lock: bool = False
) -> Event:
    """The event, if the caller holds `capability` on it; a stranger gets `event_not_found`
    exactly as for an event that does not exist."""
    try:
        require_capability(session, user_id, capability, Scope.event(event_id))
    except ScopeNotFound as exc:
        raise errors.EventNotFound() from exc
    query = select(Event).where(Event.id == event_id).execution_options(populate_existing=True)
    if lock:
        # Serializes changes to one event (and its tiers' currency) with cancel and publish.
        query = query.with_for_update()
    event = session.scalars(query).one_or_none()
    if event is None:  # deleted between the two statements; events are never deleted today
        raise errors.EventNotFound()
    return event


def _ensure_editable(event: Event) -> None:
    if event.status in _CLOSED:
        raise errors.EventNotEditable(f"The event is {event.status}; it cannot be changed.")


# --- events -----------------------------------------------------------------------------


def _insert_with_unique_slug(session: Session, event: Event, requested: str | None) -> None:
    """Inserts `event` under a free slug. A slug taken by a concurrent insert is caught by the
    unique constraint inside a savepoint and another candidate is tried."""
    if requested is not None:
        event.slug = requested
        try:
            with session.begin_nested():
                session.add(event)
        except IntegrityError as exc:
            raise errors.SlugTaken() from exc
        return
    base = slugify(event.title)
    taken = set(
        session.scalars(
            select(Event.slug).where(or_(Event.slug == base, Event.slug.like(f"{base}-%")))
        )
    )
    candidate = next(
        c for c in (base, *(f"{base}-{n}" for n in range(2, len(taken) + 3))) if c not in taken
    )
    for _ in range(8):
        event.slug = candidate
        try:
            with session.begin_nested():
                session.add(event)
            return
        except IntegrityError:
            # Someone took it between our read and our insert: fall back to a random suffix.
            if event in session:
                session.expunge(event)
            candidate = f"{base}-{secrets.token_hex(3)}"
    raise errors.SlugTaken("Could not find a free slug; pass one explicitly.")


def create_event(
    session: Session, user_id: UserId, organization_id: OrganizationId, body: EventCreate
) -> Event:
    require_capability(
        session, user_id, Capability.EVENT_CREATE, Scope.organization(organization_id)
    )
    validate_timezone(body.timezone)
    starts_at, ends_at = body.starts_at.astimezone(UTC), body.ends_at.astimezone(UTC)
    _check_schedule(starts_at, ends_at)
    if ends_at <= utcnow():
        raise errors.EventInPast()
    if body.cover_file_id is not None and session.get(File, body.cover_file_id) is None:
        raise errors.UnknownFile()
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
    _insert_with_unique_slug(session, event, body.slug)
    record_audit(
        session,
        actor_user_id=user_id,
        action="events.event.created",
        target_type="event",
        target_id=event.id,
        organization_id=organization_id,
        after=_snapshot(event, ("slug", "title", "starts_at", "ends_at", "visibility")),
    )
    return event


def _decode_event_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    values = decode_cursor(cursor)
    if values is None:
        return None
    try:
        starts_at, event_id = values
        return datetime.fromisoformat(starts_at).astimezone(UTC), str(event_id)
    except (TypeError, ValueError) as exc:
        raise InvalidCursor() from exc


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
    after = _decode_event_cursor(cursor)
    if after is not None:
        query = query.where(
            or_(
                Event.starts_at > after[0],
                and_(Event.starts_at == after[0], Event.id > after[1]),
            )
        )
    rows = list(session.scalars(query.order_by(Event.starts_at, Event.id).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last.starts_at.isoformat(), last.id)


def get_event(session: Session, user_id: UserId, event_id: EventId) -> Event:
    return _guard_event(session, user_id, Capability.EVENT_READ, event_id)


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
    event = _guard_event(session, user_id, Capability.EVENT_UPDATE, event_id, lock=True)
    _ensure_editable(event)
    before = _snapshot(event, _EVENT_FIELDS)
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
        if body.cover_file_id is not None and session.get(File, body.cover_file_id) is None:
            raise errors.UnknownFile()
        changes["cover_file_id"] = body.cover_file_id
    if "starts_at" in sent or "ends_at" in sent:
        starts_at = _utc(body.starts_at) or event.starts_at
        ends_at = _utc(body.ends_at) or event.ends_at
        _check_schedule(starts_at, ends_at)
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
    after = _snapshot(event, _EVENT_FIELDS)
    diff = {k for k in after if after[k] != before[k]}
    if diff:
        record_audit(
            session,
            actor_user_id=user_id,
            action="events.event.updated",
            target_type="event",
            target_id=event.id,
            organization_id=event.organization_id,
            before={k: before[k] for k in diff},
            after={k: after[k] for k in diff},
        )
    return event


def publish_event(session: Session, user_id: UserId, event_id: EventId) -> Event:
    """`draft -> published` (a repeat is a no-op). Refused without a tier, or when over."""
    event = _guard_event(session, user_id, Capability.EVENT_PUBLISH, event_id)
    if event.status == "published":
        return event
    _ensure_editable(event)
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
        _ensure_editable(event)
        raise errors.EventHasNoTiers()
    record_audit(
        session,
        actor_user_id=user_id,
        action="events.event.published",
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
    event = _guard_event(session, user_id, Capability.EVENT_PUBLISH, event_id)
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
    record_audit(
        session,
        actor_user_id=user_id,
        action="events.event.cancelled",
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


# --- sessions (agenda slots) ------------------------------------------------------------


def _page_by_position(
    rows: Sequence[Any], limit: int, key: tuple[str, str]
) -> tuple[list[Any], str | None]:
    if len(rows) <= limit:
        return list(rows), None
    last = rows[limit - 1]
    return list(rows[:limit]), encode_cursor(*(_json(getattr(last, k)) for k in key))


def list_sessions(
    session: Session, user_id: UserId, event_id: EventId, *, limit: int, cursor: str | None
) -> tuple[list[EventSession], str | None]:
    _guard_event(session, user_id, Capability.EVENT_READ, event_id)
    query = select(EventSession).where(EventSession.event_id == event_id)
    after = _decode_event_cursor(cursor)
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
    return _page_by_position(rows, limit, ("starts_at", "id"))


def add_session(
    session: Session, user_id: UserId, event_id: EventId, body: SessionCreate
) -> EventSession:
    """An agenda slot; it must lie within the event's start and end."""
    event = _guard_event(session, user_id, Capability.EVENT_UPDATE, event_id, lock=True)
    _ensure_editable(event)
    starts_at, ends_at = body.starts_at.astimezone(UTC), body.ends_at.astimezone(UTC)
    _check_schedule(starts_at, ends_at)
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
        after=_snapshot(slot, ("event_id", "title", "starts_at", "ends_at")),
    )
    return slot


# --- tiers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierView:
    tier: TicketTier
    session_ids: list[str]


def tier_session_ids(session: Session, tier_ids: Iterable[str]) -> dict[str, list[str]]:
    """The sessions each tier admits to; an empty list means every session of the event."""
    ids = list(tier_ids)
    out: dict[str, list[str]] = {t: [] for t in ids}
    if not ids:
        return out
    rows = session.execute(
        select(ticket_tier_sessions.c.tier_id, ticket_tier_sessions.c.session_id)
        .where(ticket_tier_sessions.c.tier_id.in_(ids))
        .order_by(ticket_tier_sessions.c.session_id)
    )
    for tier_id, session_id in rows:
        out[tier_id].append(session_id)
    return out


def list_tiers(
    session: Session, user_id: UserId, event_id: EventId, *, limit: int, cursor: str | None
) -> tuple[list[TierView], str | None]:
    _guard_event(session, user_id, Capability.EVENT_READ, event_id)
    query = select(TicketTier).where(TicketTier.event_id == event_id)
    values = decode_cursor(cursor)
    if values is not None:
        try:
            position, tier_id = int(values[0]), str(values[1])
        except (TypeError, ValueError, IndexError) as exc:
            raise InvalidCursor() from exc
        query = query.where(
            or_(
                TicketTier.position > position,
                and_(TicketTier.position == position, TicketTier.id > tier_id),
            )
        )
    rows = session.scalars(query.order_by(TicketTier.position, TicketTier.id).limit(limit + 1))
    page, next_cursor = _page_by_position(rows.all(), limit, ("position", "id"))
    links = tier_session_ids(session, (t.id for t in page))
    return [TierView(t, links[t.id]) for t in page], next_cursor


def _fix_currency(session: Session, event: Event, tier: TicketTier | None, currency: str) -> None:
    """Every tier of an event shares one currency, set by its first tier. The only tier of an
    event with nothing held or sold may switch it. The caller holds the event's row lock."""
    validate_currency(currency)
    if event.currency in (None, currency):
        event.currency = currency
        return
    if tier is not None:
        others = session.scalar(
            select(func.count())
            .select_from(TicketTier)
            .where(TicketTier.event_id == event.id, TicketTier.id != tier.id)
        )
        if not others and tier.held_count + tier.sold_count == 0:
            event.currency = currency
            return
    raise errors.CurrencyMismatch(
        f"This event's tiers are priced in {event.currency}.", currency=event.currency
    )


def _check_tier_rules(tier: TicketTier) -> None:
    if (
        tier.sales_start_at is not None
        and tier.sales_end_at is not None
        and tier.sales_end_at <= tier.sales_start_at
    ):
        raise errors.InvalidSalesWindow()
    if tier.min_per_order > tier.max_per_order:
        raise errors.InvalidOrderLimits()
    if tier.is_hidden and tier.access_code_hash is None:
        raise errors.AccessCodeRequired()


def _link_sessions(
    session: Session, event: Event, tier_id: str, session_ids: list[EventSessionId]
) -> list[str]:
    wanted: list[str] = sorted(set(session_ids))
    if wanted:
        found = set(
            session.scalars(
                select(EventSession.id).where(
                    EventSession.event_id == event.id, EventSession.id.in_(wanted)
                )
            )
        )
        missing = [s for s in wanted if s not in found]
        if missing:
            raise errors.UnknownSession(session_ids=missing)
    session.execute(delete(ticket_tier_sessions).where(ticket_tier_sessions.c.tier_id == tier_id))
    if wanted:
        session.execute(
            insert(ticket_tier_sessions), [{"tier_id": tier_id, "session_id": s} for s in wanted]
        )
    return wanted


_TIER_FIELDS = (
    "name",
    "description",
    "price_amount",
    "currency",
    "capacity",
    "sales_start_at",
    "sales_end_at",
    "min_per_order",
    "max_per_order",
    "is_hidden",
    "is_paused",
    "position",
)


def add_tier(
    session: Session, user_id: UserId, event_id: EventId, body: TierCreate, secret: bytes
) -> TierView:
    event = _guard_event(session, user_id, Capability.TIER_MANAGE, event_id, lock=True)
    _ensure_editable(event)
    _fix_currency(session, event, None, body.price.currency)
    tier = TicketTier(
        id=TicketTierId.new(),
        event_id=event.id,
        name=body.name,
        description=body.description,
        price_amount=body.price.amount,
        currency=body.price.currency,
        capacity=body.capacity,
        held_count=0,
        sold_count=0,
        sales_start_at=_utc(body.sales_start_at),
        sales_end_at=_utc(body.sales_end_at),
        min_per_order=body.min_per_order,
        max_per_order=body.max_per_order,
        is_hidden=body.is_hidden,
        access_code_hash=hash_access_code(secret, body.access_code) if body.access_code else None,
        is_paused=body.is_paused,
        position=body.position,
    )
    _check_tier_rules(tier)
    session.add(tier)
    session.flush()
    linked = _link_sessions(session, event, tier.id, body.session_ids)
    record_audit(
        session,
        actor_user_id=user_id,
        action="events.tier.created",
        target_type="ticket_tier",
        target_id=tier.id,
        organization_id=event.organization_id,
        after={**_snapshot(tier, _TIER_FIELDS), "session_ids": linked},
    )
    return TierView(tier, linked)


def _tier_event_id(session: Session, tier_id: str) -> str:
    event_id = session.scalar(select(TicketTier.event_id).where(TicketTier.id == tier_id))
    if event_id is None:
        raise errors.TierNotFound()
    return event_id


def update_tier(
    session: Session, user_id: UserId, tier_id: TicketTierId, body: TierUpdate, secret: bytes
) -> TierView:
    """Changes what was sent. Capacity never drops below `held_count + sold_count`: the
    database decides, in the same statement that changes it."""
    try:
        event = _guard_event(
            session,
            user_id,
            Capability.TIER_MANAGE,
            _tier_event_id(session, tier_id),
            lock=True,
        )
    except errors.EventNotFound as exc:
        raise errors.TierNotFound() from exc
    _ensure_editable(event)
    tier = session.scalars(
        select(TicketTier).where(TicketTier.id == tier_id).execution_options(populate_existing=True)
    ).one()
    before = _snapshot(tier, _TIER_FIELDS)
    sent = body.model_fields_set
    if body.price is not None:
        _fix_currency(session, event, tier, body.price.currency)
        tier.price_amount, tier.currency = body.price.amount, body.price.currency
    for name in (
        "name",
        "description",
        "min_per_order",
        "max_per_order",
        "is_hidden",
        "is_paused",
        "position",
    ):
        if name in sent:
            setattr(tier, name, getattr(body, name))
    for name in ("sales_start_at", "sales_end_at"):
        if name in sent:
            setattr(tier, name, _utc(getattr(body, name)))
    if "access_code" in sent:
        tier.access_code_hash = (
            hash_access_code(secret, body.access_code) if body.access_code else None
        )
    _check_tier_rules(tier)
    session.flush()
    linked = (
        _link_sessions(session, event, tier.id, body.session_ids)
        if body.session_ids is not None
        else tier_session_ids(session, [tier.id])[tier.id]
    )
    if body.capacity is not None and body.capacity != tier.capacity:
        _change_capacity(session, tier, body.capacity)
    after = _snapshot(tier, _TIER_FIELDS)
    diff = {k for k in after if after[k] != before[k]}
    if diff or body.session_ids is not None or "access_code" in sent:
        record_audit(
            session,
            actor_user_id=user_id,
            action="events.tier.updated",
            target_type="ticket_tier",
            target_id=tier.id,
            organization_id=event.organization_id,
            before={k: before[k] for k in diff},
            after={
                **{k: after[k] for k in diff},
                **({"session_ids": linked} if body.session_ids is not None else {}),
                **({"access_code_changed": True} if "access_code" in sent else {}),
            },
        )
    return TierView(tier, linked)


def _change_capacity(session: Session, tier: TicketTier, capacity: int) -> None:
    # Last in the transaction so the tier row lock that orders contend on is held briefly.
    result = session.execute(
        update(TicketTier)
        .where(
            TicketTier.id == tier.id,
            TicketTier.held_count + TicketTier.sold_count <= capacity,
        )
        .values(capacity=capacity, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(tier)
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise errors.CapacityBelowSold(
            f"{tier.held_count + tier.sold_count} seats are held or sold; "
            f"capacity cannot go below that.",
            held_count=tier.held_count,
            sold_count=tier.sold_count,
        )


# --- buyers -----------------------------------------------------------------------------


def _on_sale_now(now: datetime) -> Any:
    return and_(
        TicketTier.is_paused.is_(False),
        or_(TicketTier.sales_start_at.is_(None), TicketTier.sales_start_at <= now),
        or_(TicketTier.sales_end_at.is_(None), TicketTier.sales_end_at > now),
    )


def public_event(
    session: Session, slug: str, *, access_code: str | None, secret: bytes
) -> PublicEventOut:
    """A published public or unlisted event (or one that was, now cancelled or ended) with
    the tiers on sale now; hidden tiers only for their access code. Anything else is 404."""
    row = session.execute(
        select(Event, Organization.name)
        .join(Organization, Organization.id == Event.organization_id)
        .where(
            Event.slug == slug,
            Event.visibility.in_(("public", "unlisted")),
            Event.status.in_(("published", "cancelled", "ended")),
            Event.published_at.is_not(None),
        )
    ).one_or_none()
    if row is None:
        raise errors.EventNotFound()
    event, organizer_name = row
    slots = session.scalars(
        select(EventSession)
        .where(EventSession.event_id == event.id)
        .order_by(EventSession.starts_at, EventSession.id)
    ).all()
    code_hash = hash_access_code(secret, access_code) if access_code else None
    tiers: list[TicketTier] = []
    if event.status == "published":
        visible: ColumnElement[bool] = TicketTier.is_hidden.is_(False)
        if code_hash is not None:
            visible = or_(visible, TicketTier.access_code_hash == code_hash)
        tiers = list(
            session.scalars(
                select(TicketTier)
                .where(TicketTier.event_id == event.id, _on_sale_now(utcnow()), visible)
                .order_by(TicketTier.position, TicketTier.id)
            )
        )
    links = tier_session_ids(session, (t.id for t in tiers))
    return PublicEventOut(
        id=event.id,
        slug=event.slug,
        title=event.title,
        description=event.description,
        status=event.status,
        timezone=event.timezone,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        venue=Venue(name=event.venue_name, address=event.venue_address)
        if event.venue_name
        else None,
        online_url=event.online_url,
        cover_file_id=event.cover_file_id,
        currency=event.currency,
        organizer=PublicOrganizer(id=event.organization_id, name=organizer_name),
        sessions=[SessionOut.of(s) for s in slots],
        tiers=[
            PublicTierOut(
                id=t.id,
                name=t.name,
                description=t.description,
                price=Money(amount=t.price_amount, currency=t.currency),
                available=max(0, t.capacity - t.held_count - t.sold_count),
                is_sold_out=t.held_count + t.sold_count >= t.capacity,
                min_per_order=t.min_per_order,
                max_per_order=t.max_per_order,
                sales_end_at=t.sales_end_at,
                session_ids=[EventSessionId(s) for s in links[t.id]],
            )
            for t in tiers
        ],
        access_code_accepted=None if code_hash is None else any(t.is_hidden for t in tiers),
    )


def event_for_sale(session: Session, event_id: str) -> Event:
    """The event if it is selling now (published); else `event_not_found` or
    `event_not_on_sale`. Visibility is about discovery, not sales: it is not checked."""
    event = session.get(Event, event_id)
    if event is None:
        raise errors.EventNotFound()
    if event.status != "published":
        raise errors.EventNotOnSale(f"This event is {event.status}.", status=event.status)
    return event


def tiers_for_sale(
    session: Session,
    event_id: str,
    tier_ids: Iterable[str],
    *,
    access_code_hash: str | None = None,
    now: datetime | None = None,
) -> dict[str, TicketTier]:
    """The requested tiers, by id, if every one can be bought now: the event is published,
    the tier belongs to it, is not paused, its sales window is open, and a hidden tier is
    unlocked by `access_code_hash` (see `hash_access_code`). Raises `event_not_found`,
    `event_not_on_sale`, `tier_not_found` (also for a hidden tier without its code),
    `sales_paused` or `sales_closed`. Stock is not checked: the conditional update that
    reserves it is the only judge."""
    event_for_sale(session, event_id)
    wanted = sorted(set(tier_ids))
    rows: dict[str, TicketTier] = {
        t.id: t
        for t in session.scalars(
            select(TicketTier).where(TicketTier.event_id == event_id, TicketTier.id.in_(wanted))
        )
    }
    now = now or utcnow()
    for tier_id in wanted:
        tier = rows.get(tier_id)
        if tier is None or (
            tier.is_hidden
            and (
                access_code_hash is None
                or tier.access_code_hash is None
                or not hmac.compare_digest(tier.access_code_hash, access_code_hash)
            )
        ):
            raise errors.TierNotFound(f"No ticket tier {tier_id} in this event.", tier_id=tier_id)
        if tier.is_paused:
            raise errors.SalesPaused(tier_id=tier_id)
        if (tier.sales_start_at is not None and tier.sales_start_at > now) or (
            tier.sales_end_at is not None and tier.sales_end_at <= now
        ):
            raise errors.SalesClosed(tier_id=tier_id)
    return rows
