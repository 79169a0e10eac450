"""Add-ons: extras sold with an order (merchandise, parking, a meal), with their own stock.

Never deleted (order items point at them): deactivating hides an add-on from new orders.
Capacity changes are conditional so it never drops below what is held or sold.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, record_audit, require_capability
from admitone.core.clock import utcnow
from admitone.core.ids import AddonId, EventId, UserId
from admitone.events.models import Event
from admitone.orders.errors import AddonNotFound, CapacityBelowSold, EventNotFound, MixedCurrencies
from admitone.orders.models import Addon
from admitone.orders.schemas import AddonCreateIn, AddonOut, AddonPatchIn, Money


def addon_out(a: Addon) -> AddonOut:
    return AddonOut(
        id=a.id,
        event_id=a.event_id,
        name=a.name,
        description=a.description,
        price=Money(amount=a.price_amount, currency=a.currency),
        per=a.per,
        max_per_order=a.max_per_order,
        capacity=a.capacity,
        available=max(0, a.capacity - a.held_count - a.sold_count),
        is_active=a.is_active,
        position=a.position,
    )


def _snapshot(a: Addon) -> dict[str, Any]:
    return {
        "name": a.name,
        "price_amount": a.price_amount,
        "currency": a.currency,
        "capacity": a.capacity,
        "max_per_order": a.max_per_order,
        "is_active": a.is_active,
    }


def create_addon(session: Session, user_id: UserId, body: AddonCreateIn) -> Addon:
    grant = require_capability(session, user_id, Capability.TIER_MANAGE, Scope.event(body.event_id))
    event = session.get(Event, body.event_id)
    if event is None:
        raise EventNotFound()
    if event.currency is not None and event.currency != body.price.currency:
        raise MixedCurrencies(f"This event sells in {event.currency}.")
    addon = Addon(
        id=AddonId.new(),
        event_id=event.id,
        name=body.name,
        description=body.description,
        price_amount=body.price.amount,
        currency=body.price.currency,
        capacity=body.capacity,
        per=body.per,
        max_per_order=body.max_per_order,
        position=body.position,
    )
    session.add(addon)
    session.flush()
    record_audit(
        session,
        actor_user_id=user_id,
        action="addon.created",
        target_type="addon",
        target_id=addon.id,
        organization_id=grant.organization_id,
        after=_snapshot(addon),
    )
    return addon


def get_addon(session: Session, addon_id: AddonId) -> Addon:
    addon = session.get(Addon, addon_id)
    if addon is None:
        raise AddonNotFound()
    return addon


def public_addon(session: Session, addon_id: AddonId) -> Addon:
    """An active add-on of a published event (anyone may read it); else 404."""
    addon = get_addon(session, addon_id)
    status = session.scalar(select(Event.status).where(Event.id == addon.event_id))
    if status != "published" or not addon.is_active:
        raise AddonNotFound()
    return addon


def update_addon(session: Session, user_id: UserId, addon_id: AddonId, body: AddonPatchIn) -> Addon:
    addon = get_addon(session, addon_id)
    grant = require_capability(
        session, user_id, Capability.TIER_MANAGE, Scope.event(addon.event_id)
    )
    before = _snapshot(addon)
    sent = body.model_fields_set
    if body.capacity is not None:
        changed = session.execute(
            update(Addon)
            .where(Addon.id == addon.id, Addon.held_count + Addon.sold_count <= body.capacity)
            .values(capacity=body.capacity, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if int(getattr(changed, "rowcount", 0) or 0) != 1:
            raise CapacityBelowSold()
        session.refresh(addon)
    if body.price is not None:
        if body.price.currency != addon.currency:
            raise MixedCurrencies(f"This add-on is priced in {addon.currency}.")
        addon.price_amount = body.price.amount
    for name in ("name", "description", "max_per_order", "is_active", "position"):
        if name in sent and getattr(body, name) is not None:
            setattr(addon, name, getattr(body, name))
    if "description" in sent and body.description is None:
        addon.description = None
    addon.updated_at = utcnow()
    session.flush()
    record_audit(
        session,
        actor_user_id=user_id,
        action="addon.updated",
        target_type="addon",
        target_id=addon.id,
        organization_id=grant.organization_id,
        before=before,
        after=_snapshot(addon),
    )
    return addon


def addons_of_event(
    session: Session, event_id: EventId, *, user_id: UserId | None, include_inactive: bool
) -> list[Addon]:
    """Active add-ons of a published event for anyone; all of them (also for draft events)
    for a caller who may manage the event's tiers."""
    event = session.get(Event, event_id)
    if event is None:
        raise EventNotFound()
    manager = False
    if user_id is not None and (include_inactive or event.status != "published"):
        require_capability(session, user_id, Capability.TIER_MANAGE, Scope.event(event_id))
        manager = True
    elif event.status != "published":
        raise EventNotFound()
    query = select(Addon).where(Addon.event_id == event_id)
    if not (manager and include_inactive):
        query = query.where(Addon.is_active.is_(True))
    return list(session.scalars(query.order_by(Addon.position, Addon.id)))
