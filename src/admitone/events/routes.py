"""Event routes: organizers manage events, agenda sessions, ticket tiers and cover images;
buyers read the public page of a published event and its cover."""

from __future__ import annotations

import contextlib
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Header, Path, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from admitone.auth.deps import CurrentUser
from admitone.core.files import File as StoredFile
from admitone.core.http import Db, Page, Paging, app_settings, etag_matches
from admitone.core.ids import EventId, EventSessionId, FileId, OrganizationId, TicketTierId
from admitone.core.images import read_limited
from admitone.events import errors, service
from admitone.events.schemas import (
    EventCreate,
    EventOut,
    EventUpdate,
    PublicEventOut,
    PublicEventSummary,
    SessionCreate,
    SessionOut,
    SessionUpdate,
    TierCreate,
    TierOut,
    TierUpdate,
)
from admitone.integrations.storage import BlobNotFound, Storage, StorageError, storage_for

log = logging.getLogger(__name__)

api_router = APIRouter(tags=["events"])

OrgPath = Annotated[OrganizationId, Path(description="An organization id (`org_...`).")]
EventPath = Annotated[EventId, Path(description="An event id (`evt_...`).")]
TierPath = Annotated[TicketTierId, Path(description="A ticket tier id (`tir_...`).")]
SessionPath = Annotated[EventSessionId, Path(description="An agenda session id (`ses_...`).")]


def _responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    statuses = {
        "401": (401, "Not signed in (`unauthorized`)."),
        "403": (403, "The role lacks the capability (`capability_required`)."),
        "404": (404, "No such event or tier, or not visible to the caller."),
        "409": (409, "The event's state refuses the change (`event_not_editable`, ...)."),
        "422": (422, "Invalid input (`invalid_timezone`, `invalid_currency`, ...)."),
    }
    return {statuses[c][0]: {"description": statuses[c][1]} for c in codes}


_GUARDED = _responses("401", "403", "404")
_CHANGE = _responses("401", "403", "404", "409", "422")


@api_router.post(
    "/organizations/{organization_id}/events",
    status_code=201,
    response_model=EventOut,
    responses=_CHANGE,
)
def create_event(
    db: Db, actor: CurrentUser, organization_id: OrgPath, body: EventCreate
) -> EventOut:
    return EventOut.of(db.mutation(service.create_event, actor.user_id, organization_id, body))


@api_router.get(
    "/organizations/{organization_id}/events",
    response_model=Page[EventOut],
    responses=_GUARDED,
)
def list_events(
    db: Db,
    actor: CurrentUser,
    organization_id: OrgPath,
    paging: Paging,
    status: Annotated[Literal["draft", "published", "cancelled", "ended"] | None, Query()] = None,
) -> Page[EventOut]:
    rows, next_cursor = db.query(
        service.list_events,
        actor.user_id,
        organization_id,
        limit=paging.limit,
        cursor=paging.cursor,
        status=status,
    )
    return Page(items=[EventOut.of(e) for e in rows], next_cursor=next_cursor)


@api_router.get("/events/{event_id}", response_model=EventOut, responses=_GUARDED)
def get_event(db: Db, actor: CurrentUser, event_id: EventPath) -> EventOut:
    return EventOut.of(db.query(service.get_event, actor.user_id, event_id))


@api_router.patch("/events/{event_id}", response_model=EventOut, responses=_CHANGE)
def update_event(db: Db, actor: CurrentUser, event_id: EventPath, body: EventUpdate) -> EventOut:
    return EventOut.of(db.mutation(service.update_event, actor.user_id, event_id, body))


@api_router.post("/events/{event_id}/publish", response_model=EventOut, responses=_CHANGE)
def publish_event(db: Db, actor: CurrentUser, event_id: EventPath) -> EventOut:
    return EventOut.of(db.mutation(service.publish_event, actor.user_id, event_id))


@api_router.post("/events/{event_id}/cancel", response_model=EventOut, responses=_CHANGE)
def cancel_event(db: Db, actor: CurrentUser, event_id: EventPath) -> EventOut:
    return EventOut.of(db.mutation(service.cancel_event, actor.user_id, event_id))


@api_router.get("/events/{event_id}/sessions", response_model=Page[SessionOut], responses=_GUARDED)
def list_sessions(
    db: Db, actor: CurrentUser, event_id: EventPath, paging: Paging
) -> Page[SessionOut]:
    rows, next_cursor = db.query(
        service.list_sessions, actor.user_id, event_id, limit=paging.limit, cursor=paging.cursor
    )
    return Page(items=[SessionOut.of(s) for s in rows], next_cursor=next_cursor)


@api_router.post(
    "/events/{event_id}/sessions", status_code=201, response_model=SessionOut, responses=_CHANGE
)
def add_session(db: Db, actor: CurrentUser, event_id: EventPath, body: SessionCreate) -> SessionOut:
    return SessionOut.of(db.mutation(service.add_session, actor.user_id, event_id, body))


@api_router.patch("/sessions/{session_id}", response_model=SessionOut, responses=_CHANGE)
def update_session(
    db: Db, actor: CurrentUser, session_id: SessionPath, body: SessionUpdate
) -> SessionOut:
    return SessionOut.of(db.mutation(service.update_session, actor.user_id, session_id, body))


@api_router.delete(
    "/sessions/{session_id}",
    status_code=204,
    response_class=Response,
    responses={
        **_GUARDED,
        409: {
            "description": "The event is read-only (`event_not_editable`), or tiers or "
            "checkpoints use the session (`session_in_use`, with `tier_ids` and "
            "`checkpoint_ids`)."
        },
    },
)
def delete_session(db: Db, actor: CurrentUser, session_id: SessionPath) -> Response:
    db.mutation(service.delete_session, actor.user_id, session_id)
    return Response(status_code=204)


@api_router.get("/events/{event_id}/tiers", response_model=Page[TierOut], responses=_GUARDED)
def list_tiers(db: Db, actor: CurrentUser, event_id: EventPath, paging: Paging) -> Page[TierOut]:
    views, next_cursor = db.query(
        service.list_tiers, actor.user_id, event_id, limit=paging.limit, cursor=paging.cursor
    )
    return Page(items=[TierOut.of(v.tier, v.session_ids) for v in views], next_cursor=next_cursor)


@api_router.post(
    "/events/{event_id}/tiers", status_code=201, response_model=TierOut, responses=_CHANGE
)
def add_tier(
    request: Request, db: Db, actor: CurrentUser, event_id: EventPath, body: TierCreate
) -> TierOut:
    view = db.mutation(
        service.add_tier, actor.user_id, event_id, body, app_settings(request).secret
    )
    return TierOut.of(view.tier, view.session_ids)


@api_router.patch("/tiers/{tier_id}", response_model=TierOut, responses=_CHANGE)
def update_tier(
    request: Request, db: Db, actor: CurrentUser, tier_id: TierPath, body: TierUpdate
) -> TierOut:
    view = db.mutation(
        service.update_tier, actor.user_id, tier_id, body, app_settings(request).secret
    )
    return TierOut.of(view.tier, view.session_ids)


@api_router.get(
    "/public/events",
    response_model=Page[PublicEventSummary],
    responses={422: {"description": "A bad query or cursor (`invalid_cursor`)."}},
)
def public_events(
    db: Db,
    paging: Paging,
    q: Annotated[str | None, Query(max_length=100)] = None,
    organization_id: Annotated[OrganizationId | None, Query()] = None,
) -> Page[PublicEventSummary]:
    """Published public events that have not ended, soonest first; `q` searches titles."""
    items, next_cursor = db.query(
        service.public_events,
        limit=paging.limit,
        cursor=paging.cursor,
        q=(q or "").strip() or None,
        organization_id=organization_id,
    )
    return Page(items=items, next_cursor=next_cursor)


@api_router.get(
    "/public/events/{slug}",
    response_model=PublicEventOut,
    responses={404: {"description": "No published public or unlisted event has this slug."}},
)
def public_event(
    request: Request,
    db: Db,
    slug: Annotated[str, Path(max_length=120)],
    access_code: Annotated[str | None, Query(max_length=64)] = None,
) -> PublicEventOut:
    return db.query(
        service.public_event, slug, access_code=access_code, secret=app_settings(request).secret
    )


# --- cover images -------------------------------------------------------------------------

_COVER_UPLOAD: dict[int | str, dict[str, Any]] = {
    **_responses("401", "403", "404", "409"),
    413: {"description": "The file is over `max_upload_bytes`, 8 MiB (`file_too_large`)."},
    415: {"description": "Not a JPEG, PNG or WebP image (`unsupported_image_type`)."},
    422: {
        "description": "The image does not decode or is truncated (`invalid_image`), or has "
        "more than 40 megapixels (`image_too_large`)."
    },
    503: {"description": "The file store failed (`storage_unavailable`); try again."},
}
_IMAGE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The image (`ETag` is its SHA-256).",
        "content": {"image/jpeg": {}, "image/webp": {}},
    },
    304: {"description": "`If-None-Match` names the current image."},
}


def _storage(request: Request) -> Storage:
    return storage_for(app_settings(request))


@api_router.put("/events/{event_id}/cover", response_model=EventOut, responses=_COVER_UPLOAD)
def put_cover(
    request: Request,
    db: Db,
    actor: CurrentUser,
    event_id: EventPath,
    file: Annotated[UploadFile, File(description="A JPEG, PNG or WebP image, at most 8 MiB.")],
) -> EventOut:
    """Sets or replaces the cover (capability `event.update`). The image is re-encoded as a
    JPEG (a WebP when it has transparency) of at most 2400 px, upright, without metadata."""
    data = read_limited(file.file, app_settings(request).max_upload_bytes)
    # Refusals that need no image work come first; the decoding runs outside transactions.
    db.query(service.check_cover_change, actor.user_id, event_id)
    image = service.prepare_cover(data)
    file_id = FileId.new()
    key = service.cover_key(event_id, file_id, image.extension)
    storage = _storage(request)
    try:
        storage.put(key, image.data, image.content_type)
    except StorageError as exc:
        log.exception("cover upload for %s could not be stored", event_id)
        raise errors.StorageUnavailable() from exc
    try:
        event = db.mutation(service.set_cover, actor.user_id, event_id, file_id, key, image)
    except BaseException:
        with contextlib.suppress(StorageError):
            storage.delete(key)  # never recorded, so nothing refers to it
        raise
    return EventOut.of(event)


@api_router.delete("/events/{event_id}/cover", response_model=EventOut, responses=_CHANGE)
def delete_cover(db: Db, actor: CurrentUser, event_id: EventPath) -> EventOut:
    """Removes the cover (capability `event.update`; a repeat is a no-op) and returns the
    event. The image is deleted from storage after the change is committed."""
    return EventOut.of(db.mutation(service.remove_cover, actor.user_id, event_id))


@api_router.get(
    "/events/{event_id}/cover",
    response_class=Response,
    responses={**_IMAGE, **_GUARDED, 404: {"description": "No such event, or no cover."}},
)
def get_cover(
    request: Request,
    db: Db,
    actor: CurrentUser,
    event_id: EventPath,
    if_none_match: Annotated[str | None, Header(max_length=2000)] = None,
) -> Response:
    """The cover as the organizer sees it, whatever the event's status (`event.read`)."""
    stored = db.query(service.event_cover, actor.user_id, event_id)
    return _image(request, stored, "private, no-cache", if_none_match)


@api_router.get(
    "/public/events/{slug}/cover",
    response_class=Response,
    responses={
        **_IMAGE,
        404: {"description": "No event the public page shows (`event_not_found`), or no "
              "cover (`cover_not_found`)."},
    },
)  # fmt: skip
def public_cover(
    request: Request,
    db: Db,
    slug: Annotated[str, Path(max_length=120)],
    if_none_match: Annotated[str | None, Header(max_length=2000)] = None,
) -> Response:
    """The cover of an event whose public page is shown; cached five minutes by browsers and
    shared caches, then revalidated with its `ETag`."""
    stored = db.query(service.public_cover, slug)
    return _image(request, stored, "public, max-age=300", if_none_match)


def _image(
    request: Request, stored: StoredFile, cache_control: str, if_none_match: str | None
) -> Response:
    etag = f'"{stored.sha256}"'
    headers = {"ETag": etag, "Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    try:
        chunks = _storage(request).stream(stored.storage_key)
    except BlobNotFound as exc:
        log.error("file %s has no blob at %s", stored.id, stored.storage_key)
        raise errors.CoverNotFound() from exc
    except StorageError as exc:
        log.exception("file %s could not be read", stored.id)
        raise errors.StorageUnavailable() from exc
    headers["Content-Length"] = str(stored.size_bytes)
    return StreamingResponse(chunks, media_type=stored.content_type, headers=headers)
