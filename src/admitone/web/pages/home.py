"""`/`: what this instance is, its upcoming public events, and where to go next."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from admitone.core.http import Db
from admitone.events import service as events
from admitone.web.render import render_page
from admitone.web.session import browser_actor

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: Db) -> HTMLResponse:
    browser_actor(request)
    upcoming, _ = db.query(events.public_events, limit=20, cursor=None)
    return render_page(request, "home.html", events=upcoming)
