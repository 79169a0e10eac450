"""The dev mailbox (`GET /dev/mailbox`): every e-mail sent through the devbox transport,
read back from the delivery log. Mounted only when ADMITONE_ENV=dev. A browser (Accept:
text/html) gets the web surface's page of it, with the messages' links clickable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from admitone.core.http import Db, Paging
from admitone.emails import service as emails
from admitone.emails.schemas import Mailbox, MailboxAttachment, MailboxItem
from admitone.web.pages.mailbox import mailbox_page, wants_html

dev_router = APIRouter(tags=["development"])


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
    """Newest first. Development only: it shows sign-in codes in clear."""
    rows, cursor = db.query(emails.mailbox, to, limit=paging.limit, cursor=paging.cursor)
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
        for r in rows
    ]
    found = Mailbox(items=items, next_cursor=cursor)
    if wants_html(request):
        return mailbox_page(request, found, to)
    return found
