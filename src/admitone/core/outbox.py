"""What a domain calls when a change should reach people or integrators: it schedules a job
by name, in the caller's transaction, and imports neither `notifications` nor `webhooks`.

    outbox.notify(session, "order_paid", users=[order.buyer_user_id], data={...})
    outbox.emit_event(session, "order.paid", order.organization_id, {...the order...})

Both only insert a job row: nothing happens unless the transaction commits, and the
receiving domain's handler (`notifications.notify`, `webhooks.emit`) does the fan-out.

`emit_event` inserts nothing when no endpoint of the organization subscribes to the type:
the `webhooks` domain registers the lookup (`set_subscriptions`), and its answer is kept per
process for `SUBSCRIPTIONS_TTL` seconds (dropped at once in the process that changes an
endpoint), so a hot producer (the door scan) pays a dict lookup, not a query, per event.
`data` may be a function, called only when the event is emitted (rendering costs reads).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session

from admitone.core import jobs
from admitone.core.clock import utcnow
from admitone.core.ids import new_ulid

NOTIFY_JOB = "notifications.notify"
EMIT_JOB = "webhooks.emit"
SUBSCRIPTIONS_TTL = 5.0
_MAX_CACHED = 10_000

# (session, organization id) -> the event types its endpoints subscribe to ("*": all).
Subscriptions = Callable[[Session, str], frozenset[str]]
_lookup: Subscriptions | None = None
_cache: dict[str, tuple[float, frozenset[str]]] = {}


def set_subscriptions(lookup: Subscriptions | None) -> None:
    """Registers how to read an organization's subscribed types (the `webhooks` domain).
    With none registered every event is emitted (the emit job then finds no endpoint)."""
    global _lookup
    _lookup = lookup
    _cache.clear()


def forget_subscriptions(organization_id: str | None = None) -> None:
    """Drops the cached subscriptions of one organization (or all): call after commit."""
    if organization_id is None:
        _cache.clear()
    else:
        _cache.pop(organization_id, None)


def wants(session: Session, organization_id: str, type: str) -> bool:
    """Whether an endpoint of the organization subscribes to `type` (cached per process)."""
    lookup = _lookup
    if lookup is None:
        return True
    now = time.monotonic()
    hit = _cache.get(organization_id)
    if hit is None or hit[0] <= now:
        if len(_cache) >= _MAX_CACHED:
            _cache.clear()
        hit = (now + SUBSCRIPTIONS_TTL, lookup(session, organization_id))
        _cache[organization_id] = hit
    return "*" in hit[1] or type in hit[1]


def emit_event(
    session: Session,
    type: str,
    organization_id: str,
    data: dict[str, Any] | Callable[[], dict[str, Any]],
) -> str | None:
    """Schedules the outgoing webhook event `type` (`order.paid`, ...) of an organization;
    returns its unique id (`msg_...`), the `webhook-id` every delivery and replay carries,
    or None (nothing scheduled) when no endpoint of the organization subscribes to `type`.
    `data` is the object as the API renders it (JSON-serialisable), or a function that
    renders it (called only when the event is emitted)."""
    if not wants(session, organization_id, type):
        return None
    if callable(data):
        data = data()
    event_id = f"msg_{new_ulid()}"
    jobs.schedule(
        session,
        EMIT_JOB,
        {
            "id": event_id,
            "type": type,
            "organization_id": organization_id,
            "created_at": utcnow().isoformat(),
            "data": data,
        },
    )
    return event_id


def notify(
    session: Session,
    kind: str,
    *,
    data: dict[str, Any],
    users: Iterable[str] = (),
    emails: Iterable[str] = (),
    event_holders: str | None = None,
    organization_team: str | None = None,
    platform_role: str | None = None,
) -> str:
    """Schedules the notification `kind` (`order_paid`, `event_cancelled`, ...) for an
    audience, resolved in pages by the job: given user ids, the accounts of given e-mail
    addresses, the holders of an event's valid passes, an organization's team (the roles
    that may read orders), or a platform role. `data` fills the kind's title and body and
    is kept on the notification. Returns the key that makes the fan-out idempotent."""
    source = f"src_{new_ulid()}"
    audience: dict[str, Any] = {}
    if users:
        audience["users"] = sorted({str(u) for u in users if u})
    if emails:
        audience["emails"] = sorted({e.strip().lower() for e in emails if e})
    if event_holders:
        audience["event_holders"] = event_holders
    if organization_team:
        audience["organization_team"] = organization_team
    if platform_role:
        audience["platform_role"] = platform_role
    jobs.schedule(
        session,
        NOTIFY_JOB,
        {"kind": kind, "source": source, "audience": audience, "data": data},
    )
    return source
