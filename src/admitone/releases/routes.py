"""Release routes: Railway's deployment webhook, release notes for release managers, the
public "what's new" feed, and which release was live at a time."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime

from admitone.auth.deps import CurrentUser
from admitone.core.errors import NotFound
from admitone.core.http import Db, Page, Paging, app_settings
from admitone.core.ids import ReleaseId
from admitone.releases import service
from admitone.releases.schemas import DeploymentAccepted, PublicReleaseOut, ReleaseEdit, ReleaseOut

ops_router = APIRouter(tags=["releases"])
api_router = APIRouter(tags=["releases"])

ReleasePath = Annotated[ReleaseId, Path(description="A release id (`rel_...`).")]
_GUARDED: dict[int | str, dict[str, str]] = {
    401: {"description": "Not signed in."},
    403: {"description": "Needs `release.manage` (`capability_required`)."},
    404: {"description": "No such release."},
}


class UnknownHook(NotFound):
    code = "not_found"
    message = "No such resource or route."


@ops_router.post(
    "/hooks/railway/{secret}",
    status_code=202,
    response_model=DeploymentAccepted,
    responses={404: {"description": "Not our secret (the same answer as an unknown route)."}},
)
async def railway_deployment_hook(secret: str, request: Request, db: Db) -> DeploymentAccepted:
    """Railway's project webhook (current and legacy formats). Answered at once; the body
    is kept as received and re-checked through Railway's API when a token is set."""
    settings = app_settings(request)
    expected = settings.releases.railway_webhook_secret
    if expected is None or not hmac.compare_digest(
        secret.encode(), expected.get_secret_value().encode()
    ):
        raise UnknownHook()
    raw = await request.body()
    recheck = settings.releases.railway_project_token is not None
    ingested = await db.amutation(service.ingest_deployment_event, raw, recheck=recheck)
    return DeploymentAccepted(duplicate=ingested.event_id is None)


@api_router.get("/releases", response_model=Page[ReleaseOut], responses=_GUARDED)
def list_releases(db: Db, actor: CurrentUser, paging: Paging) -> Page[ReleaseOut]:
    rows, cursor = db.query(
        service.list_releases, actor.user_id, limit=paging.limit, cursor=paging.cursor
    )
    return Page(items=[ReleaseOut.model_validate(r) for r in rows], next_cursor=cursor)


@api_router.get("/releases/at", response_model=ReleaseOut, responses=_GUARDED)
def release_at(
    db: Db,
    actor: CurrentUser,
    time: Annotated[AwareDatetime, Query(description="An ISO 8601 time with its offset.")],
    environment: Annotated[str | None, Query(max_length=200)] = None,
) -> ReleaseOut:
    release = db.query(service.release_live_at, actor.user_id, time, environment)
    return ReleaseOut.model_validate(release)


@api_router.get("/releases/{release_id}", response_model=ReleaseOut, responses=_GUARDED)
def get_release(db: Db, actor: CurrentUser, release_id: ReleasePath) -> ReleaseOut:
    return ReleaseOut.model_validate(db.query(service.get_release, actor.user_id, release_id))


@api_router.patch("/releases/{release_id}", response_model=ReleaseOut, responses=_GUARDED)
def edit_release(
    db: Db, actor: CurrentUser, release_id: ReleasePath, body: ReleaseEdit
) -> ReleaseOut:
    release = db.mutation(
        service.edit_release,
        actor.user_id,
        release_id,
        notes=body.notes,
        published=body.published,
    )
    return ReleaseOut.model_validate(release)


@api_router.get("/public/releases", response_model=Page[PublicReleaseOut])
def public_releases(db: Db, paging: Paging) -> Page[PublicReleaseOut]:
    """Published release notes, newest first ("what's new"); no sign-in."""
    rows, cursor = db.query(service.public_releases, limit=paging.limit, cursor=paging.cursor)
    return Page(items=[PublicReleaseOut.model_validate(r) for r in rows], next_cursor=cursor)
