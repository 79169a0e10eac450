"""Webhook routes: an organization's endpoints (`webhook.manage`), their delivery log,
secret rotation and replays."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from admitone.auth.deps import CurrentUser
from admitone.core.http import Db, Page, Paging, app_settings
from admitone.core.ids import OrganizationId, WebhookDeliveryId, WebhookEndpointId
from admitone.webhooks import service
from admitone.webhooks.models import WebhookDelivery
from admitone.webhooks.schemas import (
    DeliveryOut,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    EndpointWithSecret,
    Replayed,
    ReplaySince,
)

api_router = APIRouter(tags=["webhooks"])

OrgPath = Annotated[OrganizationId, Path(description="An organization id (`org_...`).")]
EndpointPath = Annotated[WebhookEndpointId, Path(description="A webhook endpoint (`whe_...`).")]
DeliveryPath = Annotated[WebhookDeliveryId, Path(description="A delivery (`whd_...`).")]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in."},
    403: {"description": "`capability_required` (webhook.manage)."},
    404: {"description": "`webhook_endpoint_not_found`, `webhook_delivery_not_found`."},
    422: {"description": "`invalid_webhook_url`, `unknown_event_type`, ..."},
}


def _with_secret(found: service.WithSecret) -> EndpointWithSecret:
    out = EndpointOut.model_validate(found.endpoint)
    return EndpointWithSecret(**out.model_dump(), secret=found.secret)


def _delivery(row: tuple[WebhookDelivery, str]) -> DeliveryOut:
    d, type_ = row
    return DeliveryOut(
        id=d.id,
        message_id=d.message_id,
        type=type_,
        status=d.status,
        is_replay=d.is_replay,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        last_attempt_at=d.last_attempt_at,
        response_status=d.response_status,
        response_ms=d.response_ms,
        response_excerpt=d.response_excerpt,
        last_error=d.last_error,
        delivered_at=d.delivered_at,
        created_at=d.created_at,
    )


@api_router.post(
    "/organizations/{organization_id}/webhooks",
    status_code=201,
    response_model=EndpointWithSecret,
    responses=_ERRORS,
)
def create_endpoint(
    request: Request, db: Db, actor: CurrentUser, organization_id: OrgPath, body: EndpointIn
) -> EndpointWithSecret:
    return _with_secret(
        db.mutation(
            service.create_endpoint,
            app_settings(request),
            actor.user_id,
            organization_id,
            url=body.url,
            events=body.events,
            description=body.description,
        )
    )


@api_router.get(
    "/organizations/{organization_id}/webhooks",
    response_model=Page[EndpointOut],
    responses=_ERRORS,
)
def list_endpoints(
    db: Db, actor: CurrentUser, organization_id: OrgPath, paging: Paging
) -> dict[str, Any]:
    items, cursor = db.query(
        service.list_endpoints,
        actor.user_id,
        organization_id,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    return {"items": items, "next_cursor": cursor}


@api_router.get("/webhooks/{endpoint_id}", response_model=EndpointOut, responses=_ERRORS)
def get_endpoint(db: Db, actor: CurrentUser, endpoint_id: EndpointPath) -> Any:
    return db.query(service.get_endpoint, actor.user_id, endpoint_id)


@api_router.patch("/webhooks/{endpoint_id}", response_model=EndpointOut, responses=_ERRORS)
def change_endpoint(
    request: Request, db: Db, actor: CurrentUser, endpoint_id: EndpointPath, body: EndpointPatch
) -> Any:
    return db.mutation(
        service.change_endpoint,
        app_settings(request),
        actor.user_id,
        endpoint_id,
        url=body.url,
        events=body.events,
        description=body.description,
        enabled=body.enabled,
    )


@api_router.delete("/webhooks/{endpoint_id}", status_code=204, responses=_ERRORS)
def delete_endpoint(db: Db, actor: CurrentUser, endpoint_id: EndpointPath) -> Response:
    db.mutation(service.delete_endpoint, actor.user_id, endpoint_id)
    return Response(status_code=204)


@api_router.post(
    "/webhooks/{endpoint_id}/rotate-secret",
    response_model=EndpointWithSecret,
    responses=_ERRORS,
)
def rotate_secret(
    request: Request, db: Db, actor: CurrentUser, endpoint_id: EndpointPath
) -> EndpointWithSecret:
    """A new secret, shown once; the old one keeps signing (beside it) for 24 hours."""
    return _with_secret(
        db.mutation(service.rotate_secret, app_settings(request), actor.user_id, endpoint_id)
    )


@api_router.get(
    "/webhooks/{endpoint_id}/deliveries", response_model=Page[DeliveryOut], responses=_ERRORS
)
def list_deliveries(
    db: Db, actor: CurrentUser, endpoint_id: EndpointPath, paging: Paging
) -> dict[str, Any]:
    rows, cursor = db.query(
        service.list_deliveries,
        actor.user_id,
        endpoint_id,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    return {"items": [_delivery(r) for r in rows], "next_cursor": cursor}


@api_router.post(
    "/webhooks/{endpoint_id}/replay", status_code=202, response_model=Replayed, responses=_ERRORS
)
def replay_since(
    db: Db, actor: CurrentUser, endpoint_id: EndpointPath, body: ReplaySince
) -> Replayed:
    """Every message since `since` the endpoint subscribes to, delivered again."""
    return Replayed(
        queued=db.mutation(service.replay_since, actor.user_id, endpoint_id, body.since)
    )


@api_router.post(
    "/webhook-deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryOut,
    responses=_ERRORS,
)
def replay_delivery(db: Db, actor: CurrentUser, delivery_id: DeliveryPath) -> DeliveryOut:
    """A new delivery of the same message: the same `webhook-id`, a new timestamp."""
    return _delivery(db.mutation(service.replay_delivery, actor.user_id, delivery_id))
