"""API shapes of the e-mail domain (the dev mailbox)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from admitone.core.ids import EmailDeliveryId


class MailboxAttachment(BaseModel):
    filename: str
    content_type: str
    size: int


class MailboxItem(BaseModel):
    id: EmailDeliveryId
    to: str
    subject: str
    text: str
    html: str | None
    attachments: list[MailboxAttachment] = []
    sent_at: datetime


class Mailbox(BaseModel):
    items: list[MailboxItem]
    next_cursor: str | None = None
