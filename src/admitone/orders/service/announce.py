"""What an order's transitions tell integrators (webhook events through `core.outbox`) and
people (notifications): called inside the mutation that makes the transition, so a
rolled-back change announces nothing.

The order is rendered as the API shows it (`OrderOut`, with its payment and refunds), which
only `checkout` (above orders and payments) can build: it registers that renderer with
`render_orders_with` at start-up. A caller that already holds the rendered order passes it
(`view=`), and nothing is rendered when no endpoint of the organization wants the event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from admitone.core import outbox
from admitone.core.ids import EventId, OrderId
from admitone.events.models import Event
from admitone.orders.models import Order, OrderStatus
from admitone.orders.service.common import OrderDetails
from admitone.passes import service as passes
from admitone.passes.models import Pass
from admitone.settings import Settings

OrderRenderer = Callable[[Session, Settings, OrderId], dict[str, Any]]
_renderer: OrderRenderer | None = None

_ev = Event.__table__.c
_ORGANIZATION = select(_ev.organization_id).where(_ev.id == bindparam("event_id"))
# An event never changes organization: kept per process (bounded).
_organizations: dict[str, str] = {}


def render_orders_with(renderer: OrderRenderer | None) -> None:
    """Registers how an order is rendered for its webhook events (`checkout` does)."""
    global _renderer
    _renderer = renderer


def organization_of(session: Session, event_id: EventId | str) -> str:
    found = _organizations.get(event_id)
    if found is None:
        found = str(session.execute(_ORGANIZATION, {"event_id": event_id}).scalar_one())
        if len(_organizations) >= 10_000:
            _organizations.clear()
        _organizations[event_id] = found
    return found


def money(amount: int, currency: str) -> str:
    return f"{currency} {amount / 100:,.2f}"


def _render(session: Session, settings: Settings, order_id: OrderId) -> dict[str, Any]:
    if _renderer is None:
        raise RuntimeError("no order renderer registered (checkout.jobs registers it)")
    return _renderer(session, settings, order_id)


def order_event(
    session: Session,
    settings: Settings,
    type: str,
    order: Order,
    *,
    view: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Emits `type` (`order.paid`, ...) with the order as the API renders it."""
    org = organization_of(session, order.event_id)

    def data() -> dict[str, Any]:
        body = view if view is not None else _render(session, settings, order.id)
        return {**body, **extra} if extra else body

    outbox.emit_event(session, type, org, data)


def pass_events(
    session: Session, settings: Settings, type: str, event_id: EventId, found: Iterable[Pass]
) -> None:
    """One `type` (`pass.issued`, `pass.revoked`) per pass, each the pass as an order shows
    it."""
    org = organization_of(session, event_id)
    if not outbox.wants(session, org, type):
        return
    for p in found:
        outbox.emit_event(session, type, org, passes.pass_view(settings, p))


def placed(
    session: Session, settings: Settings, details: OrderDetails, view: dict[str, Any]
) -> None:
    """A new order (`view`: as the API answered it): `order.placed` and the team's
    notification; a free order is paid at once, so also `order.paid`, `pass.issued` and
    the buyer's notification."""
    order = details.order
    org = organization_of(session, order.event_id)
    order_event(session, settings, "order.placed", order, view=view)
    outbox.notify(
        session,
        "order_placed",
        organization_team=org,
        data={
            "order_id": order.id,
            "event_id": order.event_id,
            "event_title": details.event_title or "",
            "buyer_name": order.buyer_name or "",
            "total": money(order.total_amount, order.currency),
        },
    )
    if order.status == OrderStatus.PAID:
        paid(session, settings, details, view=view)


def paid(
    session: Session,
    settings: Settings,
    details: OrderDetails,
    *,
    view: dict[str, Any] | None = None,
) -> None:
    """`order.paid`, a `pass.issued` per pass and the buyer's notification."""
    order = details.order
    order_event(session, settings, "order.paid", order, view=view)
    pass_events(session, settings, "pass.issued", order.event_id, details.passes)
    if order.buyer_user_id:
        outbox.notify(
            session,
            "order_paid",
            users=[order.buyer_user_id],
            data={"order_id": order.id, "event_title": details.event_title or ""},
        )


def refunded(
    session: Session,
    settings: Settings,
    order: Order,
    amount: int,
    *,
    view: dict[str, Any] | None = None,
    refund: dict[str, Any] | None = None,
) -> None:
    """`order.refunded` (the order with the refund recorded for it, None when no money goes
    back through a provider yet) and the team's notification."""
    order_event(session, settings, "order.refunded", order, view=view, extra={"refund": refund})
    title = session.scalar(select(Event.title).where(Event.id == order.event_id))
    outbox.notify(
        session,
        "order_refunded",
        organization_team=organization_of(session, order.event_id),
        data={
            "order_id": order.id,
            "event_title": title or "",
            "amount": money(amount, order.currency),
        },
    )
