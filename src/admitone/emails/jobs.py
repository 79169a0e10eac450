"""The `emails.send` job: render, hand to the configured transport, log the delivery.

Idempotent per job: the delivery row is keyed by the job id, so a job that re-runs after
a successful send (its worker died before marking the job done) finds `sent` and stops.
A crash between the transport accepting the message and the row being marked leaves it
`sending`; the retry sends again with the same Message-ID (at-least-once, deduplicable).
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.ids import EmailDeliveryId
from admitone.core.jobs import JobContext, job
from admitone.emails.extras import extras_for
from admitone.emails.models import EmailDelivery
from admitone.emails.render import Rendered, render
from admitone.emails.service import unseal
from admitone.integrations.mail import Message, Sent, transport_for


def _claim(
    session: Session,
    job_id: str,
    to: str,
    template: str,
    transport: str,
    order_id: str | None = None,
) -> EmailDeliveryId | None:
    """The delivery row for this job, or None when it was already sent."""
    ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    session.execute(
        ins(EmailDelivery)
        .values(
            id=EmailDeliveryId.new(),
            job_id=job_id,
            recipient=to,
            template=template,
            order_id=order_id,
            transport=transport,
            status="sending",
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["job_id"])
    )
    row = session.execute(
        select(EmailDelivery.id, EmailDelivery.status).where(EmailDelivery.job_id == job_id)
    ).one()
    if row.status == "sent":
        return None
    session.execute(
        update(EmailDelivery)
        .where(EmailDelivery.id == row.id)
        .values(
            status="sending",
            transport=transport,
            attempts=EmailDelivery.attempts + 1,
            updated_at=now,
        )
    )
    return EmailDeliveryId(row.id)


def _record_sent(
    session: Session,
    delivery_id: str,
    message: Message,
    sent: Sent,
    rendered: Rendered | None,
) -> None:
    session.execute(
        update(EmailDelivery)
        .where(EmailDelivery.id == delivery_id)
        .values(
            status="sent",
            subject=message.subject,
            text_body=rendered.text if rendered else None,
            html_body=rendered.html if rendered else None,
            message_id=message.message_id,
            provider_message_id=sent.provider_message_id,
            attachments=[
                {"filename": a.filename, "content_type": a.content_type, "size": len(a.data)}
                for a in message.attachments
            ],
            last_error=None,
            sent_at=utcnow(),
            updated_at=utcnow(),
        )
    )


def _record_failure(session: Session, delivery_id: str, error: str) -> None:
    session.execute(
        update(EmailDelivery)
        .where(EmailDelivery.id == delivery_id, EmailDelivery.status != "sent")
        .values(status="failed", last_error=error[-4000:], updated_at=utcnow())
    )


def message_id_for(job_id: str, sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "admitone.local"
    return f"<{job_id}@{domain}>"


@job("emails.send", max_attempts=8)
def send_email(ctx: JobContext, /, **args: Any) -> None:
    """Arguments as `queue_email` schedules them: `to`, `template`, `context`, and
    optionally `headers` (e.g. List-Unsubscribe). A context `order_id` files the delivery
    under that order (the organizer's view of an order's e-mails)."""
    to, template = str(args["to"]), str(args["template"])
    context: dict[str, Any] = dict(args.get("context") or {})
    headers = {str(k): str(v) for k, v in dict(args.get("headers") or {}).items()}
    order_id = context.get("order_id")
    mail = ctx.settings.mail
    transport = transport_for(mail)
    delivery_id = ctx.db.mutation(
        _claim,
        ctx.job_id,
        to,
        template,
        transport.name,
        order_id if isinstance(order_id, str) else None,
    )
    if delivery_id is None:
        return
    try:
        opened = unseal(ctx.settings, context)
        extras = extras_for(template)
        loaded = ctx.db.query(extras.load, ctx.settings, opened) if extras else None
        if extras:
            opened |= extras.links(ctx.settings, opened, loaded)
        rendered = render(template, opened)
        message = Message(
            sender=mail.sender,
            to=to,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=message_id_for(ctx.job_id, mail.sender),
            attachments=extras.files(ctx.settings, loaded) if extras else (),
            headers=headers,
        )
        sent = transport.send(message)
    except Exception as exc:
        ctx.db.mutation(_record_failure, delivery_id, f"{type(exc).__name__}: {exc}")
        raise
    ctx.db.mutation(
        _record_sent, delivery_id, message, sent, rendered if transport.stores_bodies else None
    )
