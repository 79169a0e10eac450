"""`/events/{slug}`: the public event page and its purchase form; `/orders/{id}`: the order
page (the confirmation e-mail's link), with each pass's QR code.

The page reads the same public view as `GET /api/v1/public/events/{slug}` and places the
order through the same code as `POST /api/v1/orders`; the buyer then goes to the payment
provider's checkout (the dev page in development) and comes back to the order page.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from admitone.core.errors import AppError
from admitone.core.http import Db, app_settings, client_ip
from admitone.core.ids import OrderId
from admitone.events import service as events
from admitone.events.models import Event
from admitone.events.schemas import PublicEventOut
from admitone.orders import service as orders
from admitone.orders.errors import OrderNotFound
from admitone.orders.schemas import OrderIn
from admitone.passes.models import Pass
from admitone.payments import service as payments
from admitone.users.models import User
from admitone.web.checkout import place_order
from admitone.web.render import redirect, render_page
from admitone.web.session import browser_actor, check_csrf

router = APIRouter(include_in_schema=False)

Slug = Annotated[str, Path(max_length=200)]


def _local(value: datetime, tz: str) -> datetime:
    return value.astimezone(ZoneInfo(tz))


def _money(amount: int, currency: str) -> str:
    return f"{currency} {amount / 100:,.2f}"


def _event_page(
    request: Request,
    event: PublicEventOut,
    *,
    buyer_name: str,
    buyer_email: str,
    quantities: dict[str, int],
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    tz = event.timezone
    return render_page(
        request,
        "event.html",
        status_code=status_code,
        event=event,
        starts=_local(event.starts_at, tz),
        ends=_local(event.ends_at, tz),
        sessions=[(s, _local(s.starts_at, tz), _local(s.ends_at, tz)) for s in event.sessions],
        money=_money,
        buyer_name=buyer_name,
        buyer_email=buyer_email,
        quantities=quantities,
        error=error,
        on_sale=[t for t in event.tiers if not t.is_sold_out],
        idempotency_key=secrets.token_urlsafe(18),
    )


def _buyer_defaults(db: Db, request: Request) -> tuple[str, str]:
    actor = browser_actor(request)
    if actor is None:
        return "", ""
    user = db.query(lambda s: s.get(User, actor.user_id))
    return ((user.name or "") if user else "", (user.email or "") if user else "")


@router.get("/events/{slug}", response_class=HTMLResponse)
def event_page(request: Request, db: Db, slug: Slug) -> HTMLResponse:
    settings = app_settings(request)
    event = db.query(events.public_event, slug, access_code=None, secret=settings.secret)
    name, email = _buyer_defaults(db, request)
    return _event_page(request, event, buyer_name=name, buyer_email=email, quantities={})


def _quantities(form: Any, event: PublicEventOut) -> dict[str, int]:
    out: dict[str, int] = {}
    for tier in event.tiers:
        raw = form.get(f"qty_{tier.id}")
        if isinstance(raw, str) and raw.strip().isdigit():
            out[tier.id] = min(int(raw.strip()), 1000)
    return out


@router.post("/events/{slug}", response_model=None)
async def buy(request: Request, db: Db, slug: Slug) -> Response:
    """Places the order (the API's placement code), then sends the buyer to the checkout
    or, for a free order, straight to the order page."""
    form = await request.form()
    token = form.get("csrf_token")
    check_csrf(request, token if isinstance(token, str) else None)
    settings = app_settings(request)
    event = await db.run(
        db.query, events.public_event, slug, access_code=None, secret=settings.secret
    )
    quantities = _quantities(form, event)
    name = str(form.get("buyer_name") or "").strip()[:200]
    email = str(form.get("buyer_email") or "").strip()[:320]

    def again(error: str, status: int = 400) -> HTMLResponse:
        return _event_page(
            request,
            event,
            buyer_name=name,
            buyer_email=email,
            quantities=quantities,
            error=error,
            status_code=status,
        )

    items = [{"tier_id": t, "quantity": q} for t, q in quantities.items() if q > 0]
    if not items:
        return again("Choose how many tickets you want.")
    try:
        body = OrderIn.model_validate(
            {
                "event_id": event.id,
                "items": items,
                "buyer": {"name": name or None, "email": email or None},
            }
        )
    except ValidationError as exc:
        fields = {str(err["loc"][-1]) for err in exc.errors() if err.get("loc")}
        if "email" in fields:
            return again("Enter a valid e-mail address for the tickets.", 422)
        if "name" in fields:
            return again("Enter your name (up to 200 characters).", 422)
        return again("Choose between 1 and 100 tickets per tier.", 422)
    actor = await db.run(browser_actor, request)
    key = form.get("idempotency_key")
    try:
        view = await place_order(
            db,
            settings,
            body,
            actor,
            idempotency_key=key[:100] if isinstance(key, str) and key else None,
            client_ip=client_ip(request),
        )
    except AppError as exc:
        return again(exc.detail, exc.status)
    checkout = (view.get("payment") or {}).get("checkout_url")
    if checkout:
        return redirect_out(checkout)
    return redirect(request, f"/orders/{view['id']}?token={view['order_token']}")


def redirect_out(url: str) -> Response:
    """To the payment provider's checkout page (another origin, or the dev page)."""
    return Response(status_code=303, headers={"Location": url, "Cache-Control": "no-store"})


# --- the order page -----------------------------------------------------------------------


def _order_context(
    session: Session, settings: Any, order_id: OrderId, token: str | None, user_id: str | None
) -> dict[str, Any]:
    order = orders.get_order(session, order_id)
    if not orders.token_matches(settings, order.id, token) and (
        user_id is None or order.buyer_user_id != user_id
    ):
        raise OrderNotFound()
    details = orders.order_details(session, order_id)
    event = session.get(Event, order.event_id)
    assert event is not None
    names = {i.id: i.name for i in details.items}
    passes: list[tuple[Pass, str]] = [(p, names.get(p.order_item_id, "")) for p in details.passes]
    return {
        "order": order,
        "items": details.items,
        "passes": passes,
        "event": event,
        "payment": payments.payment_for_order(session, order_id),
        "token": orders.order_token(settings, order.id),
    }


def _pass_routes(request: Request) -> dict[str, bool]:
    paths = {getattr(r, "path", "") for r in request.app.routes}
    return {
        "pdf": "/api/v1/passes/{pass_id}/ticket.pdf" in paths,
        "apple": "/support/v1/passes/{pass_id}/wallet.pkpass" in paths,
        "google": "/support/v1/passes/{pass_id}/wallet/google" in paths,
    }


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(
    request: Request,
    db: Db,
    order_id: Annotated[OrderId, Path()],
    token: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    settings = app_settings(request)
    actor = browser_actor(request)
    if token is None and actor is None:
        return redirect(request, f"/sign-in?next=/orders/{order_id}")
    context = db.query(_order_context, settings, order_id, token, actor.user_id if actor else None)
    order = context["order"]
    return render_page(
        request,
        "order.html",
        money=_money,
        local=_local,
        wallet=_pass_routes(request),
        paid_with_passes=order.status in ("paid", "partially_refunded"),
        headers={"Referrer-Policy": "no-referrer"},
        **context,
    )
