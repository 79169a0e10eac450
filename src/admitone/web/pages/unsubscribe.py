"""The unsubscribe pages (`/unsubscribe/{token}`, the link in every notification e-mail):
a GET confirms, a POST (the confirm page's button, or RFC 8058 one-click from the mail
client) turns that one kind of e-mail off. Pages are the web surface's; the rule is
`notifications.service.unsubscribe`. Plain pages, no script, no cookie: mail clients and
link scanners fetch them."""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from admitone.core.errors import AppError
from admitone.core.http import Db, app_settings
from admitone.notifications import service as notifications
from admitone.web.render import PAGE_HEADERS

router = APIRouter(include_in_schema=False)

TokenPath = Annotated[str, Path(max_length=300)]


def _page(title: str, paragraph: str, form_action: str | None, status: int = 200) -> HTMLResponse:
    form = (
        f'<form method="post" action="{html.escape(form_action)}">'
        '<button type="submit">Unsubscribe</button></form>'
        if form_action
        else ""
    )
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body><main>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(paragraph)}</p>{form}</main></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: TokenPath) -> HTMLResponse:
    """Confirms before unsubscribing: link scanners fetch GETs, so only a POST changes."""
    try:
        _, kind = notifications.unsubscribe_target(app_settings(request), token)
    except AppError:
        return _page("Link not valid", "This unsubscribe link is not valid.", None, 404)
    label = kind.value.replace("_", " ")
    return _page(
        "Unsubscribe",
        f"Stop e-mails about: {label}? Other notifications are not affected.",
        f"/unsubscribe/{token}",
    )


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(
    request: Request,
    db: Db,
    token: TokenPath,
) -> HTMLResponse:
    """RFC 8058 one-click (the mail client POSTs `List-Unsubscribe=One-Click`) or the
    confirm page's button: the token alone authorises turning off that one kind."""
    try:
        kind = db.mutation(notifications.unsubscribe, app_settings(request), token)
    except AppError:
        return _page("Link not valid", "This unsubscribe link is not valid.", None, 404)
    label = kind.value.replace("_", " ")
    return _page("Unsubscribed", f"You will no longer get e-mails about: {label}.", None)
