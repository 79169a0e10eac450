"""Check-in routes: checkpoints, scanning, offline bundle and sync, live stats, door list,
the scan log and undo."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, record_audit, require_capability
from admitone.auth.deps import Actor, CurrentUser
from admitone.checkins import reads
from admitone.checkins import service as checkins
from admitone.checkins.errors import CheckpointNotFound
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
from admitone.core.errors import Invalid
from admitone.core.http import Db, Page, Paging
from admitone.core.ids import CheckInId, CheckpointId, EventId
from admitone.core.pagination import InvalidCursor, decode_cursor, encode_cursor
from admitone.core.realtime import stream_query

api_router = APIRouter(tags=["check-in"])

EventPath = Annotated[EventId, Path(description="An event id (`evt_...`).")]
_scope_errors: dict[int | str, dict[str, Any]] = {
    403: {"description": "Missing capability (`capability_required`)."},
    404: {"description": "No such event, or not visible to the caller."},
}


def _guard(session: Session, actor: Actor, capability: Capability, event_id: str) -> str | None:
    """Returns the organization id of the event once the caller may act there."""
    grant = require_capability(session, actor.user_id, capability, Scope.event(event_id))
    return grant.organization_id


def _checkpoint_out(c: Checkpoint) -> CheckpointOut:
    return CheckpointOut.model_validate(c, from_attributes=True)


# --- checkpoints ---------------------------------------------------------------------------


@api_router.get(
    "/events/{event_id}/checkpoints", response_model=list[CheckpointOut], responses=_scope_errors
)
def list_checkpoints(db: Db, actor: CurrentUser, event_id: EventPath) -> list[CheckpointOut]:
    def run(session: Session) -> list[CheckpointOut]:
        _guard(session, actor, Capability.CHECKIN_SCAN, event_id)
        return [_checkpoint_out(c) for c in checkins.list_checkpoints(session, event_id)]

    # A mutation, because the default checkpoint is created on first use.
    return db.mutation(run)


@api_router.post(
    "/events/{event_id}/checkpoints",
    response_model=CheckpointOut,
    status_code=status.HTTP_201_CREATED,
    responses={422: {"description": "`unknown_tier`, `unknown_session`, `invalid_window`."}},
)
def create_checkpoint(
    db: Db, actor: CurrentUser, event_id: EventPath, body: CheckpointIn
) -> CheckpointOut:
    def run(session: Session) -> CheckpointOut:
        org_id = _guard(session, actor, Capability.CHECKIN_MANAGE, event_id)
        created = checkins.create_checkpoint(
            session, event_id, checkins.CheckpointSpec(**body.model_dump())
        )
        out = _checkpoint_out(created)
        record_audit(
            session,
            actor_user_id=actor.user_id,
            action="checkpoint.created",
            target_type="checkpoint",
            target_id=created.id,
            organization_id=org_id,
            after=out.model_dump(mode="json"),
        )
        return out

    return db.mutation(run)


@api_router.patch(
    "/checkpoints/{checkpoint_id}",
    response_model=CheckpointOut,
    responses={404: {"description": "`checkpoint_not_found`."}},
)
def update_checkpoint(
    db: Db,
    actor: CurrentUser,
    checkpoint_id: Annotated[CheckpointId, Path()],
    body: CheckpointPatch,
) -> CheckpointOut:
    changes = body.model_dump(exclude_unset=True)
    for key in ("name", "allows_reentry"):
        if key in changes and changes[key] is None:
            raise Invalid(f"`{key}` cannot be null.", field=key)

    def run(session: Session) -> CheckpointOut:
        found = session.get(Checkpoint, checkpoint_id)
        if found is None:
            raise CheckpointNotFound()
        org_id = _guard(session, actor, Capability.CHECKIN_MANAGE, found.event_id)
        before = _checkpoint_out(found).model_dump(mode="json")
        out = _checkpoint_out(checkins.update_checkpoint(session, found, changes))
        record_audit(
            session,
            actor_user_id=actor.user_id,
            action="checkpoint.updated",
            target_type="checkpoint",
            target_id=found.id,
            organization_id=org_id,
            before=before,
            after=out.model_dump(mode="json"),
        )
        return out

    return db.mutation(run)


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
    # The door's hot path: the transaction runs on a database thread (Database.run), and
    # the answer is built by the service in the documented shape and sent as is, without
    # re-validation (ScanOut documents it; the tests check it).
    secret = request.app.state.settings.secret

    def run(session: Session) -> dict[str, Any]:
        _guard(session, actor, Capability.CHECKIN_SCAN, event_id)
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

    return JSONResponse(await db.amutation(run))


@api_router.post(
    "/events/{event_id}/checkins/sync", response_model=SyncOut, responses=_scope_errors
)
def sync(request: Request, db: Db, actor: CurrentUser, event_id: EventPath, body: SyncIn) -> Any:
    """Records scans made offline, earliest first; one answer per scan, in the order sent."""
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
        _guard(session, actor, Capability.CHECKIN_SCAN, event_id)
        results = checkins.sync_scans(
            session, secret, event_id=event_id, scans=scans, user_id=actor.user_id
        )
        return {"results": results}

    return db.mutation(run)


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
    secret = request.app.state.settings.secret
    if since is not None and since.tzinfo is None:
        raise Invalid("`since` must carry a timezone (use a bundle's version).", field="since")

    def run(session: Session) -> dict[str, Any]:
        _guard(session, actor, Capability.CHECKIN_SCAN, event_id)
        return reads.offline_bundle(session, secret, event_id, since)

    # A mutation, because the default checkpoint is created on first use.
    return db.mutation(run)


# --- live ----------------------------------------------------------------------------------


@api_router.get(
    "/events/{event_id}/checkins/stats", response_model=StatsOut, responses=_scope_errors
)
def stats(db: Db, actor: CurrentUser, event_id: EventPath) -> Any:
    def run(session: Session) -> dict[str, Any]:
        _guard(session, actor, Capability.EVENT_READ, event_id)
        return reads.checkin_stats(session, event_id)

    return db.query(run)


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
    db.query(_guard, actor, Capability.EVENT_READ, event_id)

    def fetch() -> dict[str, Any]:
        body = StatsOut.model_validate(db.query(reads.checkin_stats, event_id))
        return body.model_dump(mode="json")

    return stream_query(
        request.app.state.broker,
        [checkins.checkins_topic(event_id)],
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
    after = _cursor_pair(paging.cursor)

    def run(session: Session) -> list[dict[str, Any]]:
        _guard(session, actor, Capability.CHECKIN_SCAN, event_id)
        return reads.door_list(session, event_id, q, limit=paging.limit + 1, after=after)

    rows = db.query(run)
    more = len(rows) > paging.limit
    rows = rows[: paging.limit]
    cursor = encode_cursor(rows[-1]["sort_name"], rows[-1]["pass_id"]) if more else None
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
    after = _cursor_pair(paging.cursor)
    if after is not None:
        try:
            datetime.fromisoformat(after[0])
        except ValueError as exc:
            raise InvalidCursor() from exc

    def run(session: Session) -> list[ScanLogItem]:
        _guard(session, actor, Capability.CHECKIN_SCAN, event_id)
        rows = reads.scan_log(
            session, event_id, conflicts_only=needs_review, limit=paging.limit + 1, after=after
        )
        return [ScanLogItem.model_validate(r, from_attributes=True) for r in rows]

    items = db.query(run)
    more = len(items) > paging.limit
    items = items[: paging.limit]
    cursor = encode_cursor(items[-1].created_at.isoformat(), items[-1].id) if more else None
    return Page[ScanLogItem](items=items, next_cursor=cursor)


def _cursor_pair(cursor: str | None) -> tuple[str, str] | None:
    values = decode_cursor(cursor)
    if values is None:
        return None
    if len(values) != 2 or not all(isinstance(v, str) for v in values):
        raise InvalidCursor()
    return values[0], values[1]


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
def undo(
    db: Db,
    actor: CurrentUser,
    event_id: EventPath,
    check_in_id: Annotated[CheckInId, Path()],
) -> UndoOut:
    """Undoes a mistaken check-in (capability `checkin.manage`, audited)."""

    def run(session: Session) -> UndoOut:
        org_id = _guard(session, actor, Capability.CHECKIN_MANAGE, event_id)
        row = checkins.undo_check_in(session, event_id=event_id, check_in_id=check_in_id)
        assert row.undone_at is not None
        record_audit(
            session,
            actor_user_id=actor.user_id,
            action="check_in.undone",
            target_type="check_in",
            target_id=row.id,
            organization_id=org_id,
            before={"pass_id": row.pass_id, "checkpoint_id": row.checkpoint_id, "undone": False},
            after={"undone_at": row.undone_at.isoformat()},
        )
        return UndoOut(
            check_in_id=row.id,
            pass_id=row.pass_id,
            checkpoint_id=row.checkpoint_id,
            undone_at=row.undone_at,
        )

    return db.mutation(run)
