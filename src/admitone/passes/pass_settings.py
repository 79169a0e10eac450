"""An event's pass settings: the transfer window and the badge layout (`event.update`), and
a tier's own transfer cut-off overriding the event's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, record_audit, require_capability
from admitone.events.errors import TierNotFound
from admitone.events.models import TicketTier
from admitone.passes.badges import BadgeLayout
from admitone.passes.delivery.models import EventPassSettings, TierPassSettings


def view(rules: EventPassSettings | None) -> dict[str, Any]:
    return {
        "transfers_enabled": rules.transfers_enabled if rules else True,
        "transfer_cutoff_minutes": rules.transfer_cutoff_minutes if rules else 0,
        "badge_layout": rules.badge_layout if rules else None,
    }


def tier_cutoffs(session: Session, event_id: str) -> dict[str, int]:
    rows = session.execute(
        select(TierPassSettings.tier_id, TierPassSettings.transfer_cutoff_minutes).where(
            TierPassSettings.event_id == event_id
        )
    )
    return {tier_id: minutes for tier_id, minutes in rows}


def transfer_rule(session: Session, event_id: str, tier_id: str) -> tuple[bool, int]:
    """(transfers enabled, minutes before the start they close) for a pass of `tier_id`:
    the tier's cut-off when it has one, else the event's."""
    rules = session.get(EventPassSettings, event_id)
    tier = session.get(TierPassSettings, tier_id)
    minutes = rules.transfer_cutoff_minutes if rules else 0
    if tier is not None:
        minutes = tier.transfer_cutoff_minutes
    return (rules.transfers_enabled if rules else True), minutes


def get_pass_settings(session: Session, actor_user_id: str, event_id: str) -> dict[str, Any]:
    require_capability(session, actor_user_id, Capability.EVENT_READ, Scope.event(event_id))
    return {
        **view(session.get(EventPassSettings, event_id)),
        "tier_transfer_cutoffs": tier_cutoffs(session, event_id),
    }


def set_tier_cutoff(
    session: Session, actor_user_id: str, event_id: str, tier_id: str, minutes: int | None
) -> dict[str, Any]:
    """Sets the tier's own transfer cut-off (`None`: back to the event's); `event.update`.
    A tier of another event is `tier_not_found`."""
    require_capability(session, actor_user_id, Capability.EVENT_UPDATE, Scope.event(event_id))
    tier = session.scalar(
        select(TicketTier.id).where(TicketTier.id == tier_id, TicketTier.event_id == event_id)
    )
    if tier is None:
        raise TierNotFound()
    rules = session.get(TierPassSettings, tier_id, with_for_update=True)
    before = rules.transfer_cutoff_minutes if rules else None
    if minutes is None:
        session.execute(delete(TierPassSettings).where(TierPassSettings.tier_id == tier_id))
    elif rules is None:
        session.add(
            TierPassSettings(tier_id=tier_id, event_id=event_id, transfer_cutoff_minutes=minutes)
        )
    else:
        rules.transfer_cutoff_minutes = minutes
    session.flush()
    record_audit(
        session,
        actor_user_id=actor_user_id,
        action="tier_pass_settings.updated",
        target_type="ticket_tier",
        target_id=tier_id,
        before={"transfer_cutoff_minutes": before},
        after={"transfer_cutoff_minutes": minutes},
    )
    return get_pass_settings(session, actor_user_id, event_id)


def set_pass_settings(
    session: Session,
    actor_user_id: str,
    event_id: str,
    *,
    transfers_enabled: bool,
    transfer_cutoff_minutes: int,
    badge_layout: dict[str, Any] | None,
) -> dict[str, Any]:
    require_capability(session, actor_user_id, Capability.EVENT_UPDATE, Scope.event(event_id))
    BadgeLayout.parse(badge_layout)
    rules = session.get(EventPassSettings, event_id, with_for_update=True)
    before = view(rules)
    if rules is None:
        rules = EventPassSettings(event_id=event_id)
        session.add(rules)
    rules.transfers_enabled = transfers_enabled
    rules.transfer_cutoff_minutes = transfer_cutoff_minutes
    rules.badge_layout = badge_layout
    session.flush()
    after = view(rules)
    record_audit(
        session,
        actor_user_id=actor_user_id,
        action="event_pass_settings.updated",
        target_type="event",
        target_id=event_id,
        before=before,
        after=after,
    )
    return {**after, "tier_transfer_cutoffs": tier_cutoffs(session, event_id)}
