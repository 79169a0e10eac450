"""Per-message delivery state of an order's e-mails, for its organizer: the messages still
queued (their send job has not run) and each delivery the `emails` domain logged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, require_capability
from admitone.core.jobs import Job
from admitone.emails.models import EmailDelivery
from admitone.orders.errors import OrderNotFound
from admitone.orders.models import Order

# The emails domain's row states, as the organizer reads them.
STATES = {"sending": "queued", "sent": "sent", "failed": "failed", "bounced": "bounced"}
PENDING_SCAN = 2000


@dataclass(frozen=True)
class MailState:
    id: str
    template: str
    to: str
    status: str  # queued | sent | failed | bounced
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def _masked(address: str) -> str:
    name, _, domain = address.partition("@")
    return f"{name[:1]}***@{domain}" if domain else "***"


def order_emails(session: Session, user_id: str, order_id: str) -> list[MailState]:
    """Newest first; needs `order.read` on the order's event."""
    event_id = session.scalar(select(Order.event_id).where(Order.id == order_id))
    if event_id is None:
        raise OrderNotFound()
    require_capability(session, user_id, Capability.ORDER_READ, Scope.event(event_id))
    out = [
        MailState(
            d.id,
            d.template,
            _masked(d.recipient),
            STATES.get(d.status, d.status),
            d.attempts,
            d.last_error if d.status == "failed" else None,
            d.created_at,
            d.sent_at,
        )
        for d in session.scalars(
            select(EmailDelivery)
            .where(EmailDelivery.order_id == order_id)
            .order_by(EmailDelivery.created_at.desc())
        )
    ]
    # Not yet attempted: the send job is queued and no delivery row exists yet.
    pending = session.scalars(
        select(Job)
        .where(Job.name == "emails.send", Job.status.in_(("queued", "running")), Job.attempts == 0)
        .order_by(Job.created_at.desc())
        .limit(PENDING_SCAN)
    )
    for job in pending:
        context = job.args.get("context") or {}
        if context.get("order_id") == order_id:
            out.insert(
                0,
                MailState(
                    job.id,
                    str(job.args.get("template")),
                    _masked(str(job.args.get("to"))),
                    "queued",
                    0,
                    None,
                    job.created_at,
                    None,
                ),
            )
    return out
