"""Check-in routes: checkpoints, scanning, offline bundle and sync, live stats, door list,
the scan log and undo. Each parses, calls one use case of `checkins.service` (which checks
the capability and audits) and renders."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse

from admitone.auth.deps import CurrentUser
from admitone.checkins.models import Checkpoint
from admitone.checkins.schemas import (
    CheckpointIn,
    CheckpointOut,
    CheckpointPatch,
    DoorListItem,
    OfflineBundle,
    ScanIn,
    ScanLogItem,
    ScanOut,
    StatsOut,
    SyncIn,
    SyncOut,
    UndoOut,
)
from admitone.checkins.service import checkpoints, door, scanning, stats, undo
from admitone.checkins.service.model import ScanInput, checkins_topic
from admitone.core.errors import Invalid
from admitone.core.http import Db, Page, Paging
from admitone.core.ids import CheckInId, CheckpointId, EventId
from admitone.core.realtime import stream_query

api_router = APIRouter(tags=["check-in"])

EventPath = Annotated[EventId, Path(description="An event id (`evt_...`).")]
_scope_errors: dict[int | str, dict[str, Any]] = {
    403: {"description": "Missing capability (`capability_required`)."},
    404: {"description": "No such event, or not visible to the caller."},
}


def _checkpoint_out(c: Checkpoint) -> CheckpointOut:
    return CheckpointOut.model_validate(c, from_attributes=True)


# --- checkpoints ---------------------------------------------------------------------------


@api_router.get(
    "/events/{event_id}/checkpoints", response_model=list[CheckpointOut], responses=_scope_errors
)
def list_checkpoints(db: Db, actor: CurrentUser, event_id: EventPath) -> list[CheckpointOut]:
    # A mutation, because the default checkpoint is created on first use.
    rows = db.mutation(checkpoints.list_for_door, actor.user_id, event_id)
    return [_checkpoint_out(c) for c in rows]


@api_router.post(
    "/events/{event_id}/checkpoints",
    response_model=CheckpointOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        **_scope_errors,
        422: {"description": "`unknown_tier`, `unknown_session`, `invalid_window`."},
    },
)
def create_checkpoint(
    db: Db, actor: CurrentUser, event_id: EventPath, body: CheckpointIn
) -> CheckpointOut:
    spec = checkpoints.CheckpointSpec(**body.model_dump())
    return _checkpoint_out(db.mutation(checkpoints.add, actor.user_id, event_id, spec))


@api_router.patch(
    "/checkpoints/{checkpoint_id}",
    response_model=CheckpointOut,
    responses={**_scope_errors, 404: {"description": "`checkpoint_not_found`."}},
)
def update_checkpoint(
    db: Db,
    actor: CurrentUser,
    checkpoint_id: Annotated[CheckpointId, Path()],
    body: CheckpointPatch,
) -> CheckpointOut:
    changes = body.model_dump(exclude_unset=True)
    return _checkpoint_out(db.mutation(checkpoints.change, actor.user_id, checkpoint_id, changes))


# --- scanning ------------------------------------------------------------------------------


@api_router.post(
    "/events/{event_id}/checkins",
    response_model=ScanOut,
    response_model_by_alias=True,
    responses={
        **_scope_errors,
        404: {"description": "No such event or `checkpoint_not_found`."},
        409: {"description": "`scan_id_reused` (a scan_id used at another event)."},
    },
)
async def scan(
    request: Request, db: Db, actor: CurrentUser, event_id: EventPath, body: ScanIn
) -> Any:
    """Checks a pass in. Every answer about the pass is a 200 with a `result`."""
    # The door's hot path: the transaction runs on a database thread (Database.amutation),
    # and the answer is built by the service in the documented shape and sent as is,
    # without re-validation (tests/checkins/test_scan_contract.py checks every result
    # against the OpenAPI schema).
    found = ScanInput(
        code=body.code,
        checkpoint_id=body.checkpoint_id,
        device_id=body.device_id,
        scan_id=body.scan_id,
    )
    secret = request.app.state.settings.secret
    return JSONResponse(await db.amutation(scanning.scan, secret, actor.user_id, event_id, found))


@api_router.post(
    "/events/{event_id}/checkins/sync", response_model=SyncOut, responses=_scope_errors
)
def sync(request: Request, db: Db, actor: CurrentUser, event_id: EventPath, body: SyncIn) -> Any:
    """Records scans made offline, earliest first; one answer per scan, in the order sent."""
    scans = [
        ScanInput(
            code=s.code,
            checkpoint_id=s.checkpoint_id or body.checkpoint_id,
            device_id=body.device_id,
            scan_id=s.nonce,
            scanned_at=s.scanned_at,
            is_offline=True,
        )
        for s in body.scans
    ]
    secret = request.app.state.settings.secret
    return db.mutation(scanning.sync, secret, actor.user_id, event_id, scans)


@api_router.get(
    "/events/{event_id}/checkins/offline-bundle",
    response_model=OfflineBundle,
    responses=_scope_errors,
)
def offline_bundle(
    request: Request,
    db: Db,
    actor: CurrentUser,
    event_id: EventPath,
    since: Annotated[
        datetime | None, Query(description="A previous bundle's `version`: only changes.")
    ] = None,
) -> Any:
    if since is not None and since.tzinfo is None:
        raise Invalid("`since` must carry a timezone (use a bundle's version).", field="since")
    secret = request.app.state.settings.secret
    # A mutation, because the default checkpoint is created on first use.
    return db.mutation(door.offline_bundle, secret, actor.user_id, event_id, since)


# --- live ----------------------------------------------------------------------------------


@api_router.get(
    "/events/{event_id}/checkins/stats", response_model=StatsOut, responses=_scope_errors
)
def live_stats(db: Db, actor: CurrentUser, event_id: EventPath) -> Any:
    return db.query(stats.stats, actor.user_id, event_id)


@api_router.get(
    "/events/{event_id}/checkins/stats/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **_scope_errors},
)
def stats_stream(
    request: Request, db: Db, actor: CurrentUser, event_id: EventPath
) -> EventSourceResponse:
    """Server-sent `update` events carrying the stats object, sent now and on every change
    (a scan on any process, through the broker)."""
    db.query(stats.guard_stats, actor.user_id, event_id)

    def fetch() -> dict[str, Any]:
        body = StatsOut.model_validate(db.query(stats.checkin_stats, event_id))
        return body.model_dump(mode="json")

    return stream_query(
        request.app.state.broker,
        [checkins_topic(event_id)],
        fetch,
        is_disconnected=request.is_disconnected,
    )


@api_router.get(
    "/events/{event_id}/checkins/door-list",
    response_model=Page[DoorListItem],
    responses=_scope_errors,
)
def door_list(
    db: Db,
    actor: CurrentUser,
    event_id: EventPath,
    paging: Paging,
    q: Annotated[str | None, Query(max_length=200, description="Name, e-mail or code.")] = None,
) -> Page[DoorListItem]:
    rows, cursor = db.query(
        door.door_list, actor.user_id, event_id, q, limit=paging.limit, cursor=paging.cursor
    )
    return Page[DoorListItem](
        items=[DoorListItem.model_validate(r) for r in rows], next_cursor=cursor
    )


@api_router.get(
    "/events/{event_id}/checkins/scans",
    response_model=Page[ScanLogItem],
    responses=_scope_errors,
)
def scan_log(
    db: Db,
    actor: CurrentUser,
    event_id: EventPath,
    paging: Paging,
    needs_review: Annotated[
        bool, Query(description="Only offline conflicts and other flagged scans.")
    ] = False,
) -> Page[ScanLogItem]:
    rows, cursor = db.query(
        door.scan_log,
        actor.user_id,
        event_id,
        conflicts_only=needs_review,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    return Page[ScanLogItem](
        items=[ScanLogItem.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=cursor,
    )


# --- undo ----------------------------------------------------------------------------------


@api_router.post(
    "/events/{event_id}/checkins/{check_in_id}/undo",
    response_model=UndoOut,
    responses={
        **_scope_errors,
        404: {"description": "`check_in_not_found`."},
        409: {"description": "`check_in_already_undone`."},
    },
)
def undo_check_in(
    db: Db,
    actor: CurrentUser,
    event_id: EventPath,
    check_in_id: Annotated[CheckInId, Path()],
) -> UndoOut:
    """Undoes a mistaken check-in (capability `checkin.manage`, audited)."""
    row = db.mutation(undo.undo, actor.user_id, event_id, check_in_id)
    assert row.undone_at is not None
    return UndoOut(
        check_in_id=row.id,
        pass_id=row.pass_id,
        checkpoint_id=row.checkpoint_id,
        undone_at=row.undone_at,
    )
