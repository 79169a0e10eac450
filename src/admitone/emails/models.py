"""The e-mail delivery log: one row per `emails.send` job, keyed by the job id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Mutable, id_column
from admitone.core.ids import EmailDeliveryId, JobId


class EmailDelivery(Mutable, Base):
    """What was sent, to whom, how and when. The rendered bodies are kept only for the dev
    mailbox transport: elsewhere they may hold live sign-in codes, which must not sit in
    the database in clear."""

    __tablename__ = "email_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('sending','sent','failed','bounced')", name="status"),
    )

    id: Mapped[EmailDeliveryId] = id_column()
    # The idempotency key: a job that re-runs after a successful send finds its row.
    job_id: Mapped[JobId] = mapped_column(String(32), unique=True)
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    template: Mapped[str] = mapped_column(String(100))
    # The order a message is about (its confirmation, a resend): the organizer's view.
    order_id: Mapped[str | None] = mapped_column(String(32), index=True)
    transport: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="sending")
    subject: Mapped[str | None] = mapped_column(String(998))
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(200))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    # What was attached: `[{filename, content_type, size}]` (the files are not kept).
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
