"""Event routes: organizers manage events, agenda sessions and ticket tiers; buyers read the
public page of a published event."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request

from admitone.auth.deps import CurrentUser
from admitone.core.http import Db, Page, Paging
from admitone.core.ids import EventId, OrganizationId, TicketTierId
from admitone.events import service
from admitone.events.schemas import (
    EventCreate,
    EventOut,
    EventUpdate,
    PublicEventOut,
    SessionCreate,
    SessionOut,
    TierCreate,
    TierOut,
    TierUpdate,
)

api_router = APIRouter(tags=["events"])

OrgPath = Annotated[OrganizationId, Path(description="An organization id (`org_...`).")]
EventPath = Annotated[EventId, Path(description="An event id (`evt_...`).")]
TierPath = Annotated[TicketTierId, Path(description="A ticket tier id (`tir_...`).")]


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


def _secret(request: Request) -> bytes:
    secret: bytes = request.app.state.settings.secret
    return secret


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
    view = db.mutation(service.add_tier, actor.user_id, event_id, body, _secret(request))
    return TierOut.of(view.tier, view.session_ids)


@api_router.patch("/tiers/{tier_id}", response_model=TierOut, responses=_CHANGE)
def update_tier(
    request: Request, db: Db, actor: CurrentUser, tier_id: TierPath, body: TierUpdate
) -> TierOut:
    view = db.mutation(service.update_tier, actor.user_id, tier_id, body, _secret(request))
    return TierOut.of(view.tier, view.session_ids)


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
    return db.query(service.public_event, slug, access_code=access_code, secret=_secret(request))
