"""Ticket tiers: adding and changing them; capacity never drops below what is held or sold."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import record_audit
from admitone.core.clock import utcnow
from admitone.core.ids import EventId, EventSessionId, TicketTierId, UserId
from admitone.core.pagination import Keyset, SortKey
from admitone.events import errors
from admitone.events.models import Event, EventSession, TicketTier, ticket_tier_sessions
from admitone.events.schemas import (
    TierCreate,
    TierUpdate,
)
from admitone.events.service.rules import (
    as_utc,
    ensure_editable,
    guard_event,
    hash_access_code,
    snapshot,
    validate_currency,
)

# --- tiers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierView:
    tier: TicketTier
    session_ids: list[str]


TIERS_BY_POSITION = Keyset(SortKey(TicketTier.position, int), SortKey(TicketTier.id, TicketTierId))


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
    guard_event(session, user_id, Capability.EVENT_READ, event_id)
    query = select(TicketTier).where(TicketTier.event_id == event_id)
    page, next_cursor = TIERS_BY_POSITION.page(session, query, limit=limit, cursor=cursor)
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
    event = guard_event(session, user_id, Capability.TIER_MANAGE, event_id, lock=True)
    ensure_editable(event)
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
        sales_start_at=as_utc(body.sales_start_at),
        sales_end_at=as_utc(body.sales_end_at),
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
        action="tier.created",
        target_type="ticket_tier",
        target_id=tier.id,
        organization_id=event.organization_id,
        after={**snapshot(tier, _TIER_FIELDS), "session_ids": linked},
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
        event = guard_event(
            session,
            user_id,
            Capability.TIER_MANAGE,
            _tier_event_id(session, tier_id),
            lock=True,
        )
    except errors.EventNotFound as exc:
        raise errors.TierNotFound() from exc
    ensure_editable(event)
    tier = session.scalars(
        select(TicketTier).where(TicketTier.id == tier_id).execution_options(populate_existing=True)
    ).one()
    before = snapshot(tier, _TIER_FIELDS)
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
            setattr(tier, name, as_utc(getattr(body, name)))
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
    after = snapshot(tier, _TIER_FIELDS)
    diff = {k for k in after if after[k] != before[k]}
    if diff or body.session_ids is not None or "access_code" in sent:
        record_audit(
            session,
            actor_user_id=user_id,
            action="tier.updated",
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
