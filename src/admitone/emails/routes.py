"""The dev mailbox (`GET /dev/mailbox`): every e-mail sent through the devbox transport,
read back from the delivery log. Mounted only when ADMITONE_ENV=dev."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from admitone.core.http import Db, Paging
from admitone.emails import service as emails
from admitone.emails.schemas import Mailbox, MailboxItem

dev_router = APIRouter(tags=["development"])


@dev_router.get("/dev/mailbox", response_model=Mailbox)
def mailbox(
    db: Db, paging: Paging, to: Annotated[str | None, Query(max_length=320)] = None
) -> Mailbox:
    """Newest first. Development only: it shows sign-in codes in clear."""
    rows, cursor = db.query(emails.mailbox, to, limit=paging.limit, cursor=paging.cursor)
    items = [
        MailboxItem(
            id=r.id,
            to=r.recipient,
            subject=r.subject or "",
            text=r.text_body or "",
            html=r.html_body,
            sent_at=r.sent_at or r.updated_at,
        )
        for r in rows
    ]
    return Mailbox(items=items, next_cursor=cursor)
