"""The mail transport interface and the message it sends.

Transports talk to the network and are called from the `emails.send` job, never inside a
database transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "application/pdf"
    data: bytes


@dataclass(frozen=True)
class Message:
    sender: str
    to: str
    subject: str
    text: str
    html: str | None
    # Deterministic per send job, so a resend after a crash carries the same id and
    # receivers (and providers that dedupe) can tell it is the same message.
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Sent:
    provider_message_id: str | None


class MailError(Exception):
    """The transport could not hand the message over; the job is retried."""


class MailTransport(Protocol):
    name: str
    # Whether the delivery log keeps the rendered message (only the dev mailbox: elsewhere
    # it may carry a live sign-in code).
    stores_bodies: bool

    def send(self, message: Message) -> Sent: ...
