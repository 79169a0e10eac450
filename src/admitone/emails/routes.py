"""The dev mailbox (`GET /dev/mailbox`): every e-mail sent through the devbox transport,
read back from the delivery log. Mounted only when ADMITONE_ENV=dev."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from admitone.core.http import Db, Paging
from admitone.core.pagination import InvalidCursor, decode_cursor, encode_cursor
from admitone.emails.models import EmailDelivery
from admitone.emails.schemas import Mailbox, MailboxAttachment, MailboxItem
from admitone.web.pages.mailbox import mailbox_page, wants_html

dev_router = APIRouter(tags=["development"])


def read_mailbox(
    session: Session, to: str | None, limit: int, cursor: tuple[datetime, str] | None
) -> Mailbox:
    stmt = select(EmailDelivery).where(
        EmailDelivery.status == "sent", EmailDelivery.text_body.is_not(None)
    )
    if to:
        stmt = stmt.where(func.lower(EmailDelivery.recipient) == to.strip().lower())
    if cursor:
        sent_at, last_id = cursor
        stmt = stmt.where(
            or_(
                EmailDelivery.sent_at < sent_at,
                (EmailDelivery.sent_at == sent_at) & (EmailDelivery.id < last_id),
            )
        )
    rows = session.scalars(
        stmt.order_by(EmailDelivery.sent_at.desc(), EmailDelivery.id.desc()).limit(limit + 1)
    ).all()
    items = [
        MailboxItem(
            id=r.id,
            to=r.recipient,
            subject=r.subject or "",
            text=r.text_body or "",
            html=r.html_body,
            attachments=[MailboxAttachment(**a) for a in r.attachments or []],
            sent_at=r.sent_at or r.updated_at,
        )
        for r in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(last.sent_at.isoformat(), last.id)
    return Mailbox(items=items, next_cursor=next_cursor)


@dev_router.get(
    "/dev/mailbox",
    response_model=Mailbox,
    responses={200: {"content": {"text/html": {}}, "description": "A page for browsers."}},
)
def mailbox(
    request: Request,
    db: Db,
    paging: Paging,
    to: Annotated[str | None, Query(max_length=320)] = None,
) -> Mailbox | HTMLResponse:
    """Newest first. Development only: it shows sign-in codes in clear. A browser (Accept:
    text/html) gets a page with the messages' links clickable."""
    values = decode_cursor(paging.cursor)
    cursor = None
    if values is not None:
        try:
            cursor = (datetime.fromisoformat(values[0]), str(values[1]))
        except (IndexError, TypeError, ValueError) as exc:
            raise InvalidCursor() from exc
        if cursor[0].tzinfo is None:
            raise InvalidCursor()
    found = db.query(read_mailbox, to, paging.limit, cursor)
    if wants_html(request):
        return mailbox_page(request, found, to)
    return found
