"""Small rules shared by the event use cases: validation, guards, snapshots."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.errors import ScopeNotFound
from admitone.access.service import Scope, record_audit, require_capability
from admitone.core import slugs
from admitone.events import errors
from admitone.events.currencies import is_currency
from admitone.events.models import Event
from admitone.events.timezones import zone_names

CANCEL_EVENT_JOB = "orders.cancel_event"
_CLOSED = ("cancelled", "ended")


# --- small rules ------------------------------------------------------------------------


def validate_timezone(name: str) -> str:
    if name not in zone_names():
        raise errors.InvalidTimezone(f"`{name[:64]}` is not an IANA timezone name.")
    return name


def validate_currency(code: str) -> str:
    if not is_currency(code):
        raise errors.InvalidCurrency(f"`{code}` is not an ISO 4217 currency code.")
    return code


def slugify(title: str) -> str:
    """The slug an event gets from its title (`event` when nothing of it survives)."""
    return slugs.slugify(title, "event")


def hash_access_code(secret: bytes, code: str) -> str:
    """HMAC-SHA256 of the code, case-insensitive; only this is stored."""
    normalized = code.strip().upper().encode()
    return hmac.new(secret, b"tier-access-code:" + normalized, hashlib.sha256).hexdigest()


def as_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def snapshot(row: Any, fields: Iterable[str]) -> dict[str, Any]:
    return {f: jsonable(getattr(row, f)) for f in fields}


def audit_changes(
    session: Session,
    *,
    actor_user_id: str,
    action: str,
    target_type: str,
    target_id: str,
    organization_id: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    """An audit row naming only the fields that changed between two snapshots; none when
    nothing did."""
    diff = {k for k in after if after[k] != before[k]}
    if diff:
        record_audit(
            session,
            actor_user_id=actor_user_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            organization_id=organization_id,
            before={k: before[k] for k in diff},
            after={k: after[k] for k in diff},
        )


def check_schedule(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise errors.InvalidSchedule()


# --- guards -----------------------------------------------------------------------------


def guard_event(
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


def ensure_editable(event: Event) -> None:
    if event.status in _CLOSED:
        raise errors.EventNotEditable(f"The event is {event.status}; it cannot be changed.")


# The events the public page shows: public or unlisted, published (also once cancelled or
# ended, so a buyer's link keeps working). The public cover image follows the same rule.
