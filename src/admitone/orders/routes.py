"""Order routes (the composition boundary: an order opens its payment in the same
mutation, and the provider's checkout URL is fetched outside any transaction), and the
support service's add-on routes."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse

from admitone.access.capabilities import Capability
from admitone.access.errors import ScopeNotFound
from admitone.access.service import Scope, record_audit, require_capability
from admitone.auth.deps import Actor, CurrentUser, OptionalUser
from admitone.core import idempotency
from admitone.core.db import Database
from admitone.core.errors import AppError, ProviderError
from admitone.core.http import Db, Page, Paging, app_settings
from admitone.core.ids import AddonId, EventId, OrderId
from admitone.core.pagination import decode_cursor, encode_cursor
from admitone.core.realtime import stream_query
from admitone.events.models import Event
from admitone.integrations.payments.base import PaymentProviderUnavailable
from admitone.orders import addons as addon_rules
from admitone.orders import inventory
from admitone.orders import service as orders
from admitone.orders.errors import AddonNotFound, BuyerEmailRequired, OrderNotFound
from admitone.orders.models import Order
from admitone.orders.schemas import (
    AddonCreateIn,
    AddonOut,
    AddonPatchIn,
    CancelIn,
    DriftOut,
    OrderIn,
    OrderOut,
    RefundIn,
    RefundResultOut,
)
from admitone.passes import service as passes
from admitone.payments import service as payments
from admitone.payments.models import Payment, Refund
from admitone.settings import Settings
from admitone.users.models import User

log = logging.getLogger(__name__)

api_router = APIRouter(tags=["orders"])
support_router = APIRouter(tags=["add-ons"])

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


def _anonymous_scope(body: OrderIn) -> str:
    """Anonymous buyers' keys are kept apart by the buyer's e-mail."""
    email = body.buyer.email if body.buyer is not None else ""
    return f"anonymous:{str(email).lower()}"


# --- views --------------------------------------------------------------------------------


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def order_view(
    settings: Settings,
    details: orders.OrderDetails,
    payment: Payment | None = None,
    refunds: list[Refund] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """The order as JSON (built directly: it is also the stored idempotent response)."""
    o = details.order
    body: dict[str, Any] = {
        "id": o.id,
        "event_id": o.event_id,
        "status": o.status,
        "buyer": {"email": o.buyer_email, "name": o.buyer_name, "user_id": o.buyer_user_id},
        "items": [
            {
                "id": i.id,
                "kind": "ticket" if i.tier_id is not None else "addon",
                "tier_id": i.tier_id,
                "addon_id": i.addon_id,
                "name": i.name,
                "quantity": i.quantity,
                "refunded_quantity": i.refunded_quantity,
                "unit_price": _money(i.unit_amount, i.currency),
                "total": _money(i.unit_amount * i.quantity, i.currency),
            }
            for i in details.items
        ],
        "total": _money(o.total_amount, o.currency),
        "refunded": _money(o.refunded_amount, o.currency),
        "created_at": _iso(o.created_at),
        "expires_at": _iso(o.expires_at) if o.status == "pending" else None,
        "paid_at": _iso(o.paid_at),
        "referral_code": o.referral_code,
        "payment": payments.payment_view(payment),
        "passes": [passes.pass_view(settings, p) for p in details.passes],
        "refunds": [payments.refund_view(r) for r in refunds or []],
    }
    if token is not None:
        body["order_token"] = token
    return body


# --- placing ------------------------------------------------------------------------------


def _place(
    session: Session,
    settings: Settings,
    body: OrderIn,
    actor: Actor | None,
    provider: str,
    started: idempotency.Started | None,
) -> tuple[dict[str, Any], Payment | None]:
    email = body.buyer.email if body.buyer else None
    name = body.buyer.name if body.buyer else None
    if actor is not None and (email is None or name is None):
        user = session.get(User, actor.user_id)
        if user is not None:
            email = email or user.email
            name = name or user.name
    if not email:
        raise BuyerEmailRequired()
    prepared = orders.prepare_order(
        session,
        settings,
        orders.OrderRequest(
            event_id=body.event_id,
            items=[orders.TicketLine(i.tier_id, i.quantity) for i in body.items],
            addons=[orders.AddonLine(a.addon_id, a.quantity) for a in body.addons],
            attendees=[orders.Attendee(a.name, a.email) for a in body.attendees]
            if body.attendees
            else None,
            buyer_email=email,
            buyer_name=name,
            buyer_user_id=actor.user_id if actor else None,
            access_code=body.access_code,
            referral_code=body.referral_code,
        ),
    )
    payment = None
    if prepared.order.status == "pending":
        payment = payments.open_payment(session, prepared.order, provider=provider)
    details = orders.reserve_stock(session, prepared)  # last: the stock rows' locks
    view = order_view(
        settings, details, payment, token=orders.order_token(settings, details.order.id)
    )
    idempotency.finish(session, started, 201, view)
    return view, payment


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
    # The on-sale's hot path: transactions run on the database threads (Database.run), the
    # provider's checkout call on AnyIO's pool, so a slow provider holds no database thread.
    settings = app_settings(request)
    provider = body.provider or settings.payments.default_provider
    if provider not in settings.payments.providers:
        raise PaymentProviderUnavailable(available=list(settings.payments.providers))
    started: idempotency.Started | None = None
    if idempotency_key is not None:
        claim = await db.run(
            idempotency.begin,
            db,
            scope=f"orders.place:{actor.user_id if actor else _anonymous_scope(body)}",
            key=idempotency_key,
            body_hash=idempotency.request_hash(body.model_dump(mode="json")),
            user_id=actor.user_id if actor else None,
        )
        if isinstance(claim, idempotency.Replay):
            return _replay(claim)
        started = claim
    try:
        view, payment = await db.amutation(_place, settings, body, actor, provider, started)
    except BaseException:
        await db.run(idempotency.abandon, db, started)
        raise
    if payment is not None:
        view = await _start_checkout(db, settings, view, payment, started)
    return JSONResponse(view, status_code=201, headers={"Location": f"/api/v1/orders/{view['id']}"})


async def _start_checkout(
    db: Database,
    settings: Settings,
    view: dict[str, Any],
    payment: Payment,
    started: idempotency.Started | None,
) -> dict[str, Any]:
    """Asks the provider for the checkout URL (outside any transaction) and records it, with
    the final idempotent response. If the provider refuses, the order is cancelled at once
    (its seats go back) and the caller gets 502 `provider_error`."""
    begin = partial(payments.initialize_checkout, settings, payment, email=view["buyer"]["email"])
    try:
        if payments.checkout_calls_network(settings, payment):
            checkout = await anyio.to_thread.run_sync(begin)
        else:  # no I/O (dev): a thread hop would cost more than the call
            checkout = begin()
    except Exception as exc:
        log.warning("checkout for order %s failed: %s", view["id"], exc)
        error = exc if isinstance(exc, AppError) else ProviderError()
        problem = error.problem()

        def _fail(session: Session) -> None:
            payments.fail_checkout(session, payment.id, error.code)
            idempotency.finish(session, started, error.status, problem)

        await db.amutation(_fail)
        raise error from exc
    view["payment"]["checkout_url"] = checkout.checkout_url

    def _record(session: Session) -> None:
        payments.record_checkout(session, payment.id, checkout)
        idempotency.finish(session, started, 201, view)

    await db.amutation(_record)
    return view


def _replay(claim: idempotency.Replay) -> JSONResponse:
    media = "application/problem+json" if claim.status >= 400 else "application/json"
    return JSONResponse(claim.body, status_code=claim.status, media_type=media)


# --- reading ------------------------------------------------------------------------------


def _readable(
    session: Session,
    settings: Settings,
    order: Order,
    actor: Actor | None,
    token: str | None,
    capability: Capability = Capability.ORDER_READ,
) -> bool:
    """True when the caller is the buyer (signed in, or holding the order token); else
    the caller must hold `capability` on the event. A stranger gets 404."""
    if actor is not None and order.buyer_user_id == actor.user_id:
        return True
    if orders.token_matches(settings, order.id, token):
        return True
    if actor is None:
        raise OrderNotFound()
    try:
        require_capability(session, actor.user_id, capability, Scope.event(order.event_id))
    except ScopeNotFound as exc:
        raise OrderNotFound() from exc
    return False


def _full_view(session: Session, settings: Settings, order_id: str) -> dict[str, Any]:
    details = orders.order_details(session, order_id)
    return order_view(
        settings,
        details,
        payments.payment_for_order(session, order_id),
        payments.refunds_for_order(session, order_id),
    )


@api_router.get(
    "/orders/{order_id}",
    response_model=OrderOut,
    responses={404: _problem("`order_not_found`"), 403: _problem("`capability_required`")},
)
def get_order(
    order_id: OrderPath,
    request: Request,
    db: Db,
    actor: OptionalUser,
    token: Annotated[str | None, Query(max_length=100)] = None,
    x_order_token: OrderToken = None,
) -> JSONResponse:
    settings = app_settings(request)

    def _read(session: Session) -> dict[str, Any]:
        order = orders.get_order(session, order_id)
        _readable(session, settings, order, actor, token or x_order_token)
        return _full_view(session, settings, order_id)

    return JSONResponse(db.query(_read))


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
    token: Annotated[str | None, Query(max_length=100)] = None,
    x_order_token: OrderToken = None,
) -> EventSourceResponse:
    """Server-sent `update` events carrying the order, now and on every change (a buyer's
    checkout page waits here for `paid`). Same access as `GET /orders/{id}`."""
    settings = app_settings(request)

    def _check(session: Session) -> None:
        _readable(
            session, settings, orders.get_order(session, order_id), actor, token or x_order_token
        )

    db.query(_check)
    return stream_query(
        request.app.state.broker,
        [orders.order_topic(order_id)],
        lambda: db.query(_full_view, settings, order_id),
        is_disconnected=request.is_disconnected,
    )


@api_router.get("/me/orders", response_model=Page[OrderOut])
def my_orders(request: Request, db: Db, actor: CurrentUser, paging: Paging) -> dict[str, Any]:
    settings = app_settings(request)
    after = decode_cursor(paging.cursor)

    def _read(session: Session) -> dict[str, Any]:
        found = orders.orders_of_buyer(session, actor.user_id, limit=paging.limit + 1, after=after)
        return _page(session, settings, found, paging.limit)

    return db.query(_read)


def _page(
    session: Session, settings: Settings, found: list[orders.OrderDetails], limit: int
) -> dict[str, Any]:
    more = len(found) > limit
    found = found[:limit]
    pays = payments.payments_for_orders(session, [d.order.id for d in found])
    cursor = None
    if more and found:
        last = found[-1].order
        cursor = encode_cursor(last.created_at.isoformat(), last.id)
    return {
        "items": [order_view(settings, d, pays.get(d.order.id)) for d in found],
        "next_cursor": cursor,
    }


# --- changing -----------------------------------------------------------------------------


@api_router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderOut,
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
    token: Annotated[str | None, Query(max_length=100)] = None,
    x_order_token: OrderToken = None,
) -> JSONResponse:
    settings = app_settings(request)

    def _cancel(session: Session) -> dict[str, Any]:
        order = orders.get_order(session, order_id, for_update=True)
        is_buyer = _readable(
            session, settings, order, actor, token or x_order_token, Capability.ORDER_MANAGE
        )
        orders.cancel_order(
            session,
            order_id,
            actor_user_id=actor.user_id if actor else None,
            reason=(body.reason if body and body.reason else None)
            or ("buyer" if is_buyer else "organizer"),
        )
        if not is_buyer and actor is not None:
            record_audit(
                session,
                actor_user_id=actor.user_id,
                action="orders.order.cancelled",
                target_type="order",
                target_id=order_id,
            )
        return _full_view(session, settings, order_id)

    return JSONResponse(db.mutation(_cancel))


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
    settings = app_settings(request)
    body = body or RefundIn()
    started: idempotency.Started | None = None
    if idempotency_key is not None:
        claim = idempotency.begin(
            db,
            scope=f"orders.refund:{actor.user_id}:{order_id}",
            key=idempotency_key,
            body_hash=idempotency.request_hash(body.model_dump(mode="json")),
            user_id=actor.user_id,
        )
        if isinstance(claim, idempotency.Replay):
            return _replay(claim)
        started = claim

    def _refund(session: Session) -> dict[str, Any]:
        order = orders.get_order(session, order_id)
        try:
            grant = require_capability(
                session, actor.user_id, Capability.ORDER_REFUND, Scope.event(order.event_id)
            )
        except ScopeNotFound as exc:
            raise OrderNotFound() from exc
        quantities: dict[str, int] | None = None
        if body.items is not None:
            quantities = {}
            for line in body.items:
                quantities[line.order_item_id] = (
                    quantities.get(line.order_item_id, 0) + line.quantity
                )
        plan = orders.refund_order(
            session,
            order_id,
            actor_user_id=actor.user_id,
            quantities=quantities,
            reason=body.reason,
        )
        refund = payments.open_refund(
            session,
            order_id=order_id,
            amount=plan.amount,
            reason=body.reason,
            quantities=plan.quantities,
            actor_user_id=actor.user_id,
        )
        record_audit(
            session,
            actor_user_id=actor.user_id,
            action="orders.refund.created",
            target_type="order",
            target_id=order_id,
            organization_id=grant.organization_id,
            after={
                "amount": plan.amount,
                "quantities": plan.quantities,
                "refund_id": refund.id if refund else None,
            },
        )
        view = {
            "order": _full_view(session, settings, order_id),
            "refund": payments.refund_view(refund),
            "amount": _money(plan.amount, plan.currency),
            "revoked_pass_ids": plan.revoked_pass_ids,
        }
        idempotency.finish(session, started, 201, view)
        return view

    try:
        view = db.mutation(_refund)
    except BaseException:
        idempotency.abandon(db, started)
        raise
    return JSONResponse(view, status_code=201)


# --- organizer lists ----------------------------------------------------------------------


@api_router.get(
    "/events/{event_id}/orders",
    response_model=Page[OrderOut],
    responses={404: _problem("`not_found`"), 403: _problem("`capability_required`")},
)
def event_orders(
    event_id: EventPath,
    request: Request,
    db: Db,
    actor: CurrentUser,
    paging: Paging,
    status: Annotated[
        str | None,
        Query(pattern="^(pending|paid|expired|cancelled|refunded|partially_refunded)$"),
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="E-mail, name or id")] = None,
) -> dict[str, Any]:
    settings = app_settings(request)
    after = decode_cursor(paging.cursor)

    def _read(session: Session) -> dict[str, Any]:
        require_capability(session, actor.user_id, Capability.ORDER_READ, Scope.event(event_id))
        found = orders.orders_of_event(
            session, event_id, status=status, search=q, limit=paging.limit + 1, after=after
        )
        return _page(session, settings, found, paging.limit)

    return db.query(_read)


CSV_COLUMNS = [
    "order_id",
    "created_at",
    "status",
    "buyer_email",
    "buyer_name",
    "item_id",
    "kind",
    "tier_id",
    "addon_id",
    "item_name",
    "quantity",
    "refunded_quantity",
    "unit_amount",
    "line_amount",
    "currency",
    "order_total",
    "order_refunded",
    "paid_at",
]


def _cell(value: Any) -> Any:
    """Neutralises spreadsheet formulas in text a buyer typed (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


@api_router.get(
    "/events/{event_id}/orders.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, 403: _problem("`capability_required`")},
)
def export_orders(event_id: EventPath, db: Db, actor: CurrentUser) -> StreamingResponse:
    def _read(session: Session) -> list[orders.OrderDetails]:
        require_capability(session, actor.user_id, Capability.ORDER_EXPORT, Scope.event(event_id))
        return orders.orders_of_event(session, event_id, limit=None)

    found = db.query(_read)

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_COLUMNS)
        for d in reversed(found):  # oldest first, like a ledger
            o = d.order
            for i in d.items:
                writer.writerow(
                    [
                        _cell(v)
                        for v in (
                            o.id,
                            _iso(o.created_at),
                            o.status,
                            o.buyer_email,
                            o.buyer_name,
                            i.id,
                            "ticket" if i.tier_id else "addon",
                            i.tier_id,
                            i.addon_id,
                            i.name,
                            i.quantity,
                            i.refunded_quantity,
                            i.unit_amount,
                            i.unit_amount * i.quantity,
                            i.currency,
                            o.total_amount,
                            o.refunded_amount,
                            _iso(o.paid_at),
                        )
                    ]
                )
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        yield buf.getvalue()

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="orders-{event_id}.csv"'},
    )


@api_router.get(
    "/events/{event_id}/inventory/drift",
    response_model=list[DriftOut],
    summary="Stock counters that disagree with the order rows (should be empty)",
)
def inventory_drift(event_id: EventPath, db: Db, actor: CurrentUser) -> list[dict[str, Any]]:
    def _read(session: Session) -> list[dict[str, Any]]:
        require_capability(session, actor.user_id, Capability.ORDER_READ, Scope.event(event_id))
        return [d.as_dict() for d in inventory.find_drift(session, event_id)]

    return db.query(_read)


# --- add-ons (support service) ------------------------------------------------------------

AddonPath = Annotated[AddonId, Path(description="An add-on id (`add_...`).")]


@support_router.post("/addons", status_code=201, response_model=AddonOut)
def create_addon(body: AddonCreateIn, db: Db, actor: CurrentUser) -> AddonOut:
    return addon_rules.addon_out(db.mutation(addon_rules.create_addon, actor.user_id, body))


@support_router.get("/addons", response_model=list[AddonOut])
def list_addons(
    db: Db,
    actor: OptionalUser,
    event_id: Annotated[EventId, Query()],
    include_inactive: bool = False,
) -> list[AddonOut]:
    def _read(session: Session) -> list[AddonOut]:
        found = addon_rules.addons_of_event(
            session,
            event_id,
            user_id=actor.user_id if actor else None,
            include_inactive=include_inactive,
        )
        return [addon_rules.addon_out(a) for a in found]

    return db.query(_read)


@support_router.get("/addons/{addon_id}", response_model=AddonOut)
def get_addon(addon_id: AddonPath, db: Db) -> AddonOut:
    def _read(session: Session) -> AddonOut:
        addon = addon_rules.get_addon(session, addon_id)
        status = session.scalar(select(Event.status).where(Event.id == addon.event_id))
        if status != "published" or not addon.is_active:
            raise AddonNotFound()
        return addon_rules.addon_out(addon)

    return db.query(_read)


@support_router.patch("/addons/{addon_id}", response_model=AddonOut)
def update_addon(addon_id: AddonPath, body: AddonPatchIn, db: Db, actor: CurrentUser) -> AddonOut:
    return addon_rules.addon_out(
        db.mutation(addon_rules.update_addon, actor.user_id, addon_id, body)
    )
