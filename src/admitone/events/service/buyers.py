"""What buyers see: the public list and event page, and sale lookups for the orders domain."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.ids import EventSessionId, OrganizationId
from admitone.events import errors
from admitone.events.models import PUBLIC_PAGE, Event, EventSession, TicketTier
from admitone.events.schemas import (
    Money,
    PublicEventOut,
    PublicEventSummary,
    PublicOrganizer,
    PublicTierOut,
    SessionOut,
    Venue,
)
from admitone.events.service.lifecycle import (
    EVENTS_BY_START,
)
from admitone.events.service.rules import (
    hash_access_code,
)
from admitone.events.service.tiers import (
    tier_session_ids,
)
from admitone.orgs.models import Organization

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
        .where(Event.slug == slug, *PUBLIC_PAGE)
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
        venue=_venue(event),
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


def _venue(event: Event) -> Venue | None:
    return Venue(name=event.venue_name, address=event.venue_address) if event.venue_name else None


def public_events(
    session: Session,
    *,
    limit: int,
    cursor: str | None,
    q: str | None = None,
    organization_id: OrganizationId | None = None,
) -> tuple[list[PublicEventSummary], str | None]:
    """Published public events that have not ended, soonest first, cursor-paginated by
    `(starts_at, id)`; `q` matches the title case-insensitively. Two queries per page, whatever
    its size: the events with their organizer, then the lowest price of each."""
    now = utcnow()
    query = (
        select(Event, Organization.name)
        .join(Organization, Organization.id == Event.organization_id)
        .where(
            Event.status == "published",
            Event.visibility == "public",
            # The `events.end_past` cron runs every few minutes; do not wait for it.
            Event.ends_at > now,
        )
    )
    if q:
        query = query.where(Event.title.icontains(q, autoescape=True))
    if organization_id is not None:
        query = query.where(Event.organization_id == organization_id)
    rows, next_cursor = EVENTS_BY_START.page(
        session, query, limit=limit, cursor=cursor, scalars=False, key_of=lambda r: r[0]
    )
    lowest = _lowest_prices(session, [event.id for event, _ in rows], now)
    return [
        PublicEventSummary(
            id=event.id,
            slug=event.slug,
            title=event.title,
            timezone=event.timezone,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            venue=_venue(event),
            is_online=event.online_url is not None,
            organizer=PublicOrganizer(id=event.organization_id, name=organizer_name),
            currency=event.currency,
            lowest_price=Money(amount=lowest[event.id], currency=event.currency)
            if event.id in lowest and event.currency
            else None,
            cover_url=f"/api/v1/public/events/{event.slug}/cover" if event.cover_file_id else None,
        )
        for event, organizer_name in rows
    ], next_cursor


def _lowest_prices(session: Session, event_ids: list[str], now: datetime) -> dict[str, int]:
    """The cheapest tier each event shows on its public page without an access code and
    still has seats for (the event's tiers share one currency)."""
    if not event_ids:
        return {}
    rows = session.execute(
        select(TicketTier.event_id, func.min(TicketTier.price_amount))
        .where(
            TicketTier.event_id.in_(event_ids),
            TicketTier.is_hidden.is_(False),
            _on_sale_now(now),
            TicketTier.held_count + TicketTier.sold_count < TicketTier.capacity,
        )
        .group_by(TicketTier.event_id)
    )
    return {event_id: int(amount) for event_id, amount in rows}


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
