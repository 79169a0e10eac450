"""`/door`: door staff pick an event and a checkpoint, then scan (camera or a field
labelled "Code"); the result fills the screen. Without JavaScript the form posts here and
the page shows the result; with it, `door.js` scans through `/door/{event}/scan`, keeps
scans made offline on the device and syncs them through `/door/{event}/sync`.

Every action is the check-in domain's service with the same capability check as the API
(`checkin.scan`); the browser proves itself with the session cookie and the CSRF token
(a header for the script's JSON calls).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, require_capability
from admitone.auth.deps import Actor
from admitone.checkins import service as checkins
from admitone.checkins.schemas import ScanIn, SyncIn
from admitone.checkins.service import stats as reads
from admitone.core.errors import Unauthorized
from admitone.core.http import Db
from admitone.core.ids import EventId
from admitone.core.realtime import stream_query
from admitone.events.models import Event
from admitone.events.service.reach import events_with_capability
from admitone.web.render import redirect, render_page
from admitone.web.session import browser_actor, check_csrf

router = APIRouter(include_in_schema=False)

EventPath = Annotated[EventId, Path()]


def _signed_in(request: Request) -> Actor:
    actor = browser_actor(request)
    if actor is None:
        raise Unauthorized("Sign in at /sign-in first.")
    return actor


def _checked(request: Request) -> Actor:
    """The signed-in actor of a script's call, with its CSRF header checked."""
    check_csrf(request, request.headers.get("x-csrf-token"))
    return _signed_in(request)


def _door_context(
    session: Session, actor: Actor, event_id: str | None, checkpoint_id: str | None
) -> dict[str, Any]:
    choices = events_with_capability(session, actor.user_id, Capability.CHECKIN_SCAN)
    event = None
    checkpoints: list[Any] = []
    stats: dict[str, Any] | None = None
    if event_id:
        require_capability(session, actor.user_id, Capability.CHECKIN_SCAN, Scope.event(event_id))
        event = session.get(Event, event_id)
        checkpoints = list(checkins.list_checkpoints(session, event_id))
        stats = reads.checkin_stats(session, event_id)
    chosen = next((c for c in checkpoints if c.id == checkpoint_id), None) or (
        checkpoints[0] if checkpoints else None
    )
    return {
        "events": choices,
        "event": event,
        "checkpoints": checkpoints,
        "checkpoint": chosen,
        "stats": stats,
        "inside": inside_now(stats) if stats else 0,
    }


def inside_now(stats: dict[str, Any]) -> int:
    """People inside now: at checkpoints that scan exits, those whose last passage was an
    entry; with no such checkpoint, everyone checked in."""
    counted = [c["inside"] for c in stats["by_checkpoint"] if c.get("inside") is not None]
    return sum(counted) if counted else int(stats["checked_in"])


def _when(value: Any, tz: str) -> str:
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(tz)).strftime("%H:%M:%S, %a %d %b")
    if isinstance(value, str):
        return _when(datetime.fromisoformat(value.replace("Z", "+00:00")), tz)
    return ""


def _page(request: Request, context: dict[str, Any], result: Any = None) -> HTMLResponse:
    return render_page(request, "door.html", result=result, when=_when, **context)


@router.get("/door", response_class=HTMLResponse, response_model=None)
def door(
    request: Request,
    db: Db,
    event: Annotated[str | None, Query(max_length=40, pattern=r"^evt_[0-9A-Za-z]+$")] = None,
    checkpoint: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    actor = browser_actor(request)
    if actor is None:
        return redirect(request, "/sign-in?next=/door")
    # A mutation: the event's default checkpoint is created on first use.
    return _page(request, db.mutation(_door_context, actor, event, checkpoint))


@router.post("/door/{event_id}", response_class=HTMLResponse, response_model=None)
def door_scan_form(
    request: Request,
    db: Db,
    event_id: EventPath,
    code: Annotated[str, Form(min_length=1, max_length=300)],
    checkpoint_id: Annotated[str | None, Form(max_length=40)] = None,
    csrf_token: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    """The scanner without JavaScript: post the code, see the result."""
    check_csrf(request, csrf_token)
    actor = browser_actor(request)
    if actor is None:
        return redirect(request, "/sign-in?next=/door")
    secret = request.app.state.settings.secret

    def run(session: Session) -> tuple[dict[str, Any], dict[str, Any]]:
        result = _scan(
            session,
            secret,
            actor,
            event_id,
            ScanIn(code=code.strip() or code, checkpoint_id=checkpoint_id),
        )
        return result, _door_context(session, actor, event_id, checkpoint_id)

    result, context = db.mutation(run)
    return _page(request, context, result)


def _scan(
    session: Session, secret: bytes, actor: Actor, event_id: str, body: ScanIn
) -> dict[str, Any]:
    require_capability(session, actor.user_id, Capability.CHECKIN_SCAN, Scope.event(event_id))
    return checkins.scan_pass(
        session,
        secret,
        event_id=event_id,
        scan=checkins.ScanInput(
            code=body.code,
            checkpoint_id=body.checkpoint_id,
            device_id=body.device_id,
            scan_id=body.scan_id,
        ),
        user_id=actor.user_id,
    )


@router.post("/door/{event_id}/scan")
def door_scan(request: Request, db: Db, event_id: EventPath, body: ScanIn) -> JSONResponse:
    actor = _checked(request)
    secret = request.app.state.settings.secret
    return JSONResponse(db.mutation(_scan, secret, actor, event_id, body))


@router.post("/door/{event_id}/sync")
def door_sync(request: Request, db: Db, event_id: EventPath, body: SyncIn) -> JSONResponse:
    """Scans kept on the device while offline, as `POST /events/{id}/checkins/sync`."""
    actor = _checked(request)
    secret = request.app.state.settings.secret
    scans = [
        checkins.ScanInput(
            code=s.code,
            checkpoint_id=s.checkpoint_id or body.checkpoint_id,
            device_id=body.device_id,
            scan_id=s.nonce,
            scanned_at=s.scanned_at,
            is_offline=True,
        )
        for s in body.scans
    ]

    def run(session: Session) -> dict[str, Any]:
        require_capability(session, actor.user_id, Capability.CHECKIN_SCAN, Scope.event(event_id))
        return {
            "results": checkins.sync_scans(
                session, secret, event_id=event_id, scans=scans, user_id=actor.user_id
            )
        }

    return JSONResponse(db.mutation(run))


@router.get("/door/{event_id}/stats")
def door_stats_stream(request: Request, db: Db, event_id: EventPath) -> EventSourceResponse:
    """Live counts for the door page: `update` events with checked_in and inside."""
    actor = _signed_in(request)
    db.query(
        lambda s: require_capability(
            s, actor.user_id, Capability.CHECKIN_SCAN, Scope.event(event_id)
        )
    )

    def fetch() -> dict[str, Any]:
        stats = db.query(reads.checkin_stats, event_id)
        return {
            "checked_in": stats["checked_in"],
            "expected": stats["expected"],
            "inside": inside_now(stats),
        }

    return stream_query(
        request.app.state.broker,
        [checkins.checkins_topic(event_id)],
        fetch,
        is_disconnected=request.is_disconnected,
    )
