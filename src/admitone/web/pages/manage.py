"""`/manage`: an organizer's events with sales and door counts; an event's orders with
search, refund and cancel where the capability allows; the door list as CSV. Everything
else is edited through the API (/docs). Each action is the service the API route calls,
with the same capability checks."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, grant_for, require_capability
from admitone.auth.deps import Actor
from admitone.checkins.service import door as checkin_door
from admitone.checkins.service import stats as checkin_stats_service
from admitone.checkout import cancel_order, event_orders, refund_order
from admitone.core.errors import AppError
from admitone.core.http import Db, app_settings
from admitone.core.ids import EventId, OrderId
from admitone.events.models import Event
from admitone.events.service.reach import events_with_capability
from admitone.orders.models import Order
from admitone.orders.schemas import RefundIn
from admitone.orders.service.exports import _cell as csv_cell
from admitone.orders.service.reads import event_sales
from admitone.web.pages.door import inside_now
from admitone.web.render import redirect, render_page
from admitone.web.session import browser_actor, check_csrf

router = APIRouter(include_in_schema=False)

EventPath = Annotated[EventId, Path()]
OrderPath = Annotated[OrderId, Path()]
Csrf = Annotated[str | None, Form(max_length=200)]


def _money(amount: int, currency: str) -> str:
    return f"{currency} {amount / 100:,.2f}"


def _overview(session: Session, actor: Actor) -> list[dict[str, Any]]:
    found = events_with_capability(session, actor.user_id, Capability.EVENT_READ)
    sales = event_sales(session, [e.id for e in found])
    rows = []
    for event in found:
        stats = checkin_stats_service.checkin_stats(session, event.id)
        rows.append(
            {
                "event": event,
                "sold": sales[event.id]["sold"],
                "revenue": sales[event.id]["revenue"],
                "checked_in": stats["checked_in"],
                "inside": inside_now(stats),
            }
        )
    return rows


@router.get("/manage", response_class=HTMLResponse, response_model=None)
def manage(request: Request, db: Db) -> Response:
    actor = browser_actor(request)
    if actor is None:
        return redirect(request, "/sign-in?next=/manage")
    return render_page(request, "manage.html", rows=db.query(_overview, actor), money=_money)


def _event_page(
    session: Session,
    settings: Any,
    actor: Actor,
    event_id: EventId,
    q: str | None,
    cursor: str | None,
) -> dict[str, Any]:
    require_capability(session, actor.user_id, Capability.ORDER_READ, Scope.event(event_id))
    caps = grant_for(session, actor.user_id, Scope.event(event_id)).capabilities
    page = event_orders(
        session, settings, actor.user_id, event_id, status=None, search=q, limit=50, cursor=cursor
    )
    return {
        "event": session.get(Event, event_id),
        "orders": page["items"],
        "next_cursor": page.get("next_cursor"),
        "can_refund": Capability.ORDER_REFUND in caps,
        "can_cancel": Capability.ORDER_MANAGE in caps,
        "can_door_list": Capability.CHECKIN_SCAN in caps,
    }


@router.get("/manage/events/{event_id}", response_class=HTMLResponse, response_model=None)
def manage_event(
    request: Request,
    db: Db,
    event_id: EventPath,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    notice: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    actor = browser_actor(request)
    if actor is None:
        return redirect(request, f"/sign-in?next=/manage/events/{event_id}")
    context = db.query(_event_page, app_settings(request), actor, event_id, q or None, cursor)
    notices = {"refunded": "Refund recorded.", "cancelled": "Order cancelled."}
    return render_page(
        request,
        "manage_event.html",
        q=q or "",
        money=_money,
        notice=notices.get(notice or ""),
        error=None,
        **context,
    )


def _event_of(session: Session, order_id: OrderId) -> EventId:
    order = session.get(Order, order_id)
    if order is None:
        raise AppError("No such order.")
    return order.event_id


@router.post("/manage/orders/{order_id}/refund", response_model=None)
async def refund(request: Request, db: Db, order_id: OrderPath) -> Response:
    form = await request.form()
    token = form.get("csrf_token")
    check_csrf(request, token if isinstance(token, str) else None)
    actor = await db.run(browser_actor, request)
    if actor is None:
        return redirect(request, "/sign-in?next=/manage")
    event_id = await db.run(db.query, _event_of, order_id)
    key = form.get("idempotency_key")
    try:
        outcome = await db.run(
            refund_order,
            db,
            app_settings(request),
            order_id,
            actor.user_id,
            RefundIn(reason="organizer"),
            idempotency_key=key[:100] if isinstance(key, str) and key else None,
        )
    except AppError as exc:
        return await _refused(request, db, actor, event_id, exc.detail)
    if outcome.is_problem:
        return await _refused(request, db, actor, event_id, str(outcome.body.get("detail")))
    return redirect(request, f"/manage/events/{event_id}?notice=refunded")


@router.post("/manage/orders/{order_id}/cancel", response_model=None)
def cancel(request: Request, db: Db, order_id: OrderPath, csrf_token: Csrf = None) -> Response:
    check_csrf(request, csrf_token)
    actor = browser_actor(request)
    if actor is None:
        return redirect(request, "/sign-in?next=/manage")
    event_id = db.query(_event_of, order_id)
    try:
        db.mutation(cancel_order, app_settings(request), order_id, actor.user_id, None, "organizer")
    except AppError as exc:
        context = db.query(_event_page, app_settings(request), actor, event_id, None, None)
        return render_page(
            request,
            "manage_event.html",
            status_code=exc.status,
            q="",
            money=_money,
            notice=None,
            error=exc.detail,
            **context,
        )
    return redirect(request, f"/manage/events/{event_id}?notice=cancelled")


async def _refused(
    request: Request, db: Db, actor: Actor, event_id: EventId, message: str
) -> Response:
    context = await db.run(
        db.query, _event_page, app_settings(request), actor, event_id, None, None
    )
    return render_page(
        request,
        "manage_event.html",
        status_code=409,
        q="",
        money=_money,
        notice=None,
        error=message,
        **context,
    )


def _door_rows(session: Session, actor: Actor, event_id: EventId) -> list[dict[str, Any]]:
    rows, _ = checkin_door.door_list(
        session, actor.user_id, event_id, None, limit=100_000, cursor=None
    )
    return rows


@router.get("/manage/events/{event_id}/door-list.csv", response_model=None)
def door_list_csv(request: Request, db: Db, event_id: EventPath) -> Response:
    actor = browser_actor(request)
    if actor is None:
        return redirect(request, f"/sign-in?next=/manage/events/{event_id}")
    rows = db.query(_door_rows, actor, event_id)
    columns = ("code", "attendee_name", "attendee_email", "buyer_email", "tier_name", "status")

    def lines() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow((*columns, "checked_in_at"))
        for row in rows:
            first = row.get("checked_in_at")
            writer.writerow(
                [csv_cell(row.get(c)) for c in columns] + [first.isoformat() if first else ""]
            )
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        yield buf.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="door-list-{event_id}.csv"',
            "Cache-Control": "no-store",
        },
    )
