"""The dev mailbox (`GET /dev/mailbox`): every e-mail sent through the devbox transport,
read back from the delivery log (`emails.service.mailbox`). Mounted only when
ADMITONE_ENV=dev (`dev_router`, exposed by web/routes.py). API clients get the JSON; a
browser (Accept: text/html) gets a page of it, with the messages' links clickable. The
route is the web surface's (not `emails`'), so that emails, the lowest domain, imports none
above it."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from admitone.core.http import Db, Paging
from admitone.emails import service as emails
from admitone.emails.schemas import Mailbox, MailboxAttachment, MailboxItem
from admitone.web.render import render_page

dev_router = APIRouter(tags=["development"])

_URL = re.compile(r"https?://[^\s<>\"']+")


def wants_html(request: Request) -> bool:
    """A browser's navigation (text/html before any JSON in Accept)."""
    accept = request.headers.get("accept", "")
    html = accept.find("text/html")
    json = accept.find("application/json")
    return html != -1 and (json == -1 or html < json)


def linkify(text: str) -> Markup:
    """`text` escaped, with each http(s) URL a link (its text and href escaped too)."""
    out: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        out.append(str(escape(text[last : match.start()])))
        url = escape(match.group(0))
        out.append(f'<a href="{url}">{url}</a>')
        last = match.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))  # noqa: S704 - every piece above is escaped


def mailbox_page(request: Request, mailbox: Mailbox, to: str | None) -> HTMLResponse:
    return render_page(
        request,
        "mailbox.html",
        messages=[(m, linkify(m.text)) for m in mailbox.items],
        to=to or "",
        next_cursor=mailbox.next_cursor,
    )


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
