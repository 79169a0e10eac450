"""An event's pass settings: the transfer window and the badge layout (`event.update`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, record_audit, require_capability
from admitone.passes.badges import BadgeLayout
from admitone.passes.delivery.models import EventPassSettings


def view(rules: EventPassSettings | None) -> dict[str, Any]:
    return {
        "transfers_enabled": rules.transfers_enabled if rules else True,
        "transfer_cutoff_minutes": rules.transfer_cutoff_minutes if rules else 0,
        "badge_layout": rules.badge_layout if rules else None,
    }


def get_pass_settings(session: Session, actor_user_id: str, event_id: str) -> dict[str, Any]:
    require_capability(session, actor_user_id, Capability.EVENT_READ, Scope.event(event_id))
    return view(session.get(EventPassSettings, event_id))


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
    return after
