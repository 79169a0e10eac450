"""What a domain calls when a change should reach people or integrators: it schedules a job
by name, in the caller's transaction, and imports neither `notifications` nor `webhooks`.

    outbox.notify(session, "order_paid", users=[order.buyer_user_id], data={...})
    outbox.emit_event(session, "order.paid", order.organization_id, {...the order...})

Both only insert a job row: nothing happens unless the transaction commits, and the
receiving domain's handler (`notifications.notify`, `webhooks.emit`) does the fan-out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session
from ulid import ULID

from admitone.core import jobs
from admitone.core.clock import utcnow

NOTIFY_JOB = "notifications.notify"
EMIT_JOB = "webhooks.emit"


def emit_event(session: Session, type: str, organization_id: str, data: dict[str, Any]) -> str:
    """Schedules the outgoing webhook event `type` (`order.paid`, ...) of an organization;
    returns its unique id (`msg_...`), the `webhook-id` every delivery and replay carries.
    `data` is the object as the API renders it (JSON-serialisable)."""
    event_id = f"msg_{ULID()}"
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
    source = f"src_{ULID()}"
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
