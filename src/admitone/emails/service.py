"""Queueing e-mail: a mutation schedules the send job; nothing is sent before commit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from admitone.core import jobs
from admitone.core.ids import EmailDeliveryId
from admitone.core.pagination import Keyset, SortKey
from admitone.emails.models import EmailDelivery
from admitone.settings import Settings


def queue_email(
    session: Session,
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    unique_key: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Schedules `emails.send` for `template` (a name under emails/templates/) in the
    caller's transaction. `context` must be JSON-serialisable; `unique_key` dedupes;
    `headers` are added to the message."""
    args: dict[str, Any] = {"to": to, "template": template, "context": context}
    if headers:
        args["headers"] = headers
    jobs.schedule(session, "emails.send", args, unique_key=unique_key)


def _fernet(settings: Settings) -> Fernet:
    key = hmac.new(settings.secret, b"emails.sealed-context", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(settings: Settings, values: dict[str, Any]) -> str:
    """Encrypts context values (a live sign-in code, a link token) so the job row at rest
    does not hold them in clear; pass as `context={"sealed": seal(...)}`. The send job
    opens it and merges the values into the template context."""
    return _fernet(settings).encrypt(json.dumps(values).encode()).decode()


def unseal(settings: Settings, context: dict[str, Any]) -> dict[str, Any]:
    sealed = context.get("sealed")
    if not isinstance(sealed, str):
        return context
    opened = json.loads(_fernet(settings).decrypt(sealed.encode()))
    return {**{k: v for k, v in context.items() if k != "sealed"}, **opened}


def forget_recipient(session: Session, email: str) -> None:
    """Account deletion: the delivery log keeps that a message went out, not to whom."""
    session.execute(
        update(EmailDelivery)
        .where(func.lower(EmailDelivery.recipient) == email.lower())
        .values(recipient="deleted", subject=None, text_body=None, html_body=None)
        .execution_options(synchronize_session=False)
    )


MAILBOX_NEWEST_FIRST = Keyset(
    SortKey(EmailDelivery.sent_at, datetime, descending=True),
    SortKey(EmailDelivery.id, EmailDeliveryId, descending=True),
)


def mailbox(
    session: Session, to: str | None, *, limit: int, cursor: str | None
) -> tuple[list[EmailDelivery], str | None]:
    """The dev mailbox: e-mails sent (with their text), newest first, optionally to one
    address."""
    stmt = select(EmailDelivery).where(
        EmailDelivery.status == "sent", EmailDelivery.text_body.is_not(None)
    )
    if to:
        stmt = stmt.where(func.lower(EmailDelivery.recipient) == to.strip().lower())
    return MAILBOX_NEWEST_FIRST.page(session, stmt, limit=limit, cursor=cursor)
