"""Order routes of the checkout use cases: place and pay, read, follow, cancel, refund,
and the order lists. Each parses, calls one `checkout` function and renders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse

from admitone import checkout
from admitone.auth.deps import CurrentUser, OptionalUser
from admitone.checkout.schemas import OrderOut, RefundResultOut
from admitone.core.http import Db, Page, Paging, app_settings, client_ip
from admitone.core.ids import EventId, OrderId
from admitone.core.realtime import stream_query
from admitone.orders import service as orders
from admitone.orders.models import OrderStatus
from admitone.orders.schemas import (
    CancelIn,
    OrderIn,
    RefundIn,
)

api_router = APIRouter(tags=["orders"])

OrderPath = Annotated[OrderId, Path(description="An order id (`ord_...`).")]
EventPath = Annotated[EventId, Path(description="An event id (`evt_...`).")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Same key and body: the same response (24 h)."),
]
OrderToken = Annotated[
    str | None,
    Header(alias="X-Order-Token", description="The `order_token` returned at creation."),
]
TokenQuery = Annotated[str | None, Query(max_length=100)]


def _problem(description: str) -> dict[str, str]:
    return {"description": description}


_place_errors: dict[int | str, dict[str, Any]] = {
    404: _problem("`event_not_found`, `tier_not_found`, `addon_not_found`"),
    409: _problem(
        "`tier_sold_out`, `addon_sold_out`, `sales_closed`, `sales_paused`, "
        "`event_not_on_sale`, `idempotency_in_progress`"
    ),
    422: _problem(
        "`limit_exceeded`, `attendees_mismatch`, `mixed_currencies`, `buyer_email_required`, "
        "`idempotency_key_reused`, `validation_error`"
    ),
    502: _problem("`provider_error`: the payment provider could not start the checkout"),
}


def _render(outcome: checkout.Outcome, location: str | None = None) -> JSONResponse:
    if outcome.is_problem:
        return JSONResponse(
            outcome.body, status_code=outcome.status, media_type="application/problem+json"
        )
    headers = {"Location": location} if location else None
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


# --- placing ------------------------------------------------------------------------------


@api_router.post(
    "/orders",
    status_code=201,
    response_model=OrderOut,
    responses=_place_errors,
    summary="Place an order: reserve tickets (and add-ons), open the payment",
)
async def place_order(
    body: OrderIn,
    request: Request,
    db: Db,
    actor: OptionalUser,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    # The body is built by hand (checkout.views.order_view, also the stored idempotent
    # response) and returned as is; tests/checkout validates it against OrderOut's schema.
    outcome = await checkout.place_order(
        db,
        app_settings(request),
        body,
        actor,
        idempotency_key=idempotency_key,
        client_ip=client_ip(request),
    )
    location = None if outcome.is_problem else f"/api/v1/orders/{outcome.body['id']}"
    return _render(outcome, location)


# --- reading ------------------------------------------------------------------------------


@api_router.get(
    "/orders/{order_id}",
    response_model=OrderOut,
    response_model_exclude_unset=True,
    responses={404: _problem("`order_not_found`"), 403: _problem("`capability_required`")},
)
def get_order(
    order_id: OrderPath,
    request: Request,
    db: Db,
    actor: OptionalUser,
    token: TokenQuery = None,
    x_order_token: OrderToken = None,
) -> dict[str, Any]:
    return db.query(
        checkout.read_order,
        app_settings(request),
        order_id,
        actor.user_id if actor else None,
        token or x_order_token,
    )


@api_router.get(
    "/orders/{order_id}/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, 404: _problem("`order_not_found`")},
)
def order_stream(
    order_id: OrderPath,
    request: Request,
    db: Db,
    actor: OptionalUser,
    token: TokenQuery = None,
    x_order_token: OrderToken = None,
) -> EventSourceResponse:
    """Server-sent `update` events carrying the order, now and on every change (a buyer's
    checkout page waits here for `paid`). Same access as `GET /orders/{id}`."""
    settings = app_settings(request)
    db.query(
        checkout.check_readable,
        settings,
        order_id,
        actor.user_id if actor else None,
        token or x_order_token,
    )
    return stream_query(
        request.app.state.broker,
        [orders.order_topic(order_id)],
        lambda: db.query(checkout.read_order_by_id, settings, order_id),
        is_disconnected=request.is_disconnected,
    )


@api_router.get("/me/orders", response_model=Page[OrderOut], response_model_exclude_unset=True)
def my_orders(request: Request, db: Db, actor: CurrentUser, paging: Paging) -> dict[str, Any]:
    return db.query(
        checkout.buyer_orders,
        app_settings(request),
        actor.user_id,
        limit=paging.limit,
        cursor=paging.cursor,
    )


# --- changing -----------------------------------------------------------------------------


@api_router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderOut,
    response_model_exclude_unset=True,
    responses={
        404: _problem("`order_not_found`"),
        409: _problem("`order_not_cancellable`: only pending orders can be cancelled"),
    },
)
def cancel_order(
    order_id: OrderPath,
    request: Request,
    db: Db,
    actor: OptionalUser,
    body: CancelIn | None = None,
    token: TokenQuery = None,
    x_order_token: OrderToken = None,
) -> dict[str, Any]:
    return db.mutation(
        checkout.cancel_order,
        app_settings(request),
        order_id,
        actor.user_id if actor else None,
        token or x_order_token,
        body.reason if body else None,
    )


@api_router.post(
    "/orders/{order_id}/refunds",
    status_code=201,
    response_model=RefundResultOut,
    responses={
        404: _problem("`order_not_found`"),
        403: _problem("`capability_required` (`order.refund`)"),
        409: _problem("`order_not_refundable`, `idempotency_in_progress`"),
        422: _problem("`refund_exceeds_quantity`, `unknown_order_item`, `idempotency_key_reused`"),
    },
)
def refund_order(
    order_id: OrderPath,
    request: Request,
    db: Db,
    actor: CurrentUser,
    body: RefundIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    outcome = checkout.refund_order(
        db,
        app_settings(request),
        order_id,
        actor.user_id,
        body or RefundIn(),
        idempotency_key=idempotency_key,
    )
    return _render(outcome)


# --- organizer lists ----------------------------------------------------------------------


@api_router.get(
    "/events/{event_id}/orders",
    response_model=Page[OrderOut],
    response_model_exclude_unset=True,
    responses={404: _problem("`not_found`"), 403: _problem("`capability_required`")},
)
def event_orders(
    event_id: EventPath,
    request: Request,
    db: Db,
    actor: CurrentUser,
    paging: Paging,
    status: OrderStatus | None = None,
    q: Annotated[str | None, Query(max_length=200, description="E-mail, name or id")] = None,
) -> dict[str, Any]:
    return db.query(
        checkout.event_orders,
        app_settings(request),
        actor.user_id,
        event_id,
        status=status,
        search=q,
        limit=paging.limit,
        cursor=paging.cursor,
    )


# The pass documents an order's token opens (QR, ticket PDFs, wallet files), transfers and
# badges: a module of their own, mounted with these routes.
from admitone.checkout import pass_routes as _passes  # noqa: E402

api_router.routes.extend(_passes.api_router.routes)
support_router = _passes.support_router
