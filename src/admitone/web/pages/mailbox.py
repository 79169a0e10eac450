"""The dev mailbox as a page (`/dev/mailbox` asked by a browser, Accept: text/html): the
latest messages with their links clickable. API clients keep the JSON (emails/routes.py)."""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from admitone.emails.schemas import Mailbox
from admitone.web.render import render_page

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
