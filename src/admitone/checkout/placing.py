"""Place and pay: the order and its payment written in one mutation, then the provider's
checkout URL asked for outside any transaction and recorded with the final idempotent
response. The on-sale's hot path: transactions run on the database threads
(`Database.amutation`), the provider call on AnyIO's pool, so a slow provider holds no
database thread."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio.to_thread
from sqlalchemy.orm import Session

from admitone.auth.deps import Actor
from admitone.checkout.views import order_view
from admitone.core import idempotency
from admitone.core.db import Database
from admitone.core.errors import AppError, ProviderError
from admitone.integrations.payments.base import PaymentProviderUnavailable
from admitone.orders import service as orders
from admitone.orders.errors import BuyerEmailRequired
from admitone.orders.models import OrderStatus
from admitone.orders.schemas import OrderIn
from admitone.orders.service import announce
from admitone.payments import service as payments
from admitone.payments.models import Payment
from admitone.settings import Settings
from admitone.users.models import User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What a checkout call answers: the status and JSON body (an order representation,
    `OrderOut`, or for a replayed `Idempotency-Key` whatever the first call answered, a
    problem when `status >= 400`)."""

    status: int
    body: dict[str, Any]
    replayed: bool = False

    @property
    def is_problem(self) -> bool:
        return self.status >= 400


def _anonymous_scope(body: OrderIn) -> str:
    """Anonymous buyers' keys are kept apart by the buyer's e-mail."""
    email = body.buyer.email if body.buyer is not None else ""
    return f"anonymous:{str(email).lower()}"


def _buyer(session: Session, body: OrderIn, actor: Actor | None) -> tuple[str, str | None]:
    """The buyer's e-mail and name: from the body, else the signed-in user's."""
    email = body.buyer.email if body.buyer else None
    name = body.buyer.name if body.buyer else None
    if actor is not None and (email is None or name is None):
        user = session.get(User, actor.user_id)
        if user is not None:
            email = email or user.email
            name = name or user.name
    if not email:
        raise BuyerEmailRequired()
    return email, name


def order_request(session: Session, body: OrderIn, actor: Actor | None) -> orders.OrderRequest:
    email, name = _buyer(session, body, actor)
    return orders.OrderRequest(
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
    )


def _place(
    session: Session,
    settings: Settings,
    body: OrderIn,
    actor: Actor | None,
    provider: str,
    started: idempotency.Started | None,
) -> tuple[dict[str, Any], Payment | None]:
    """The mutation: the order's rows, its payment, then the stock (last: the stock rows'
    locks are held for the shortest time)."""
    prepared = orders.prepare_order(session, settings, order_request(session, body, actor))
    payment = None
    if prepared.order.status == OrderStatus.PENDING:
        payment = payments.open_payment(session, prepared.order, provider=provider)
    details = orders.reserve_stock(session, prepared)
    view = order_view(settings, details, payment)
    # Integrators get the order as an organizer reads it: without the buyer's token.
    announce.placed(session, settings, details, view)
    view = {**view, "order_token": orders.order_token(settings, details.order.id)}
    idempotency.finish(session, started, 201, view)
    return view, payment


async def place_order(
    db: Database,
    settings: Settings,
    body: OrderIn,
    actor: Actor | None,
    *,
    idempotency_key: str | None = None,
    client_ip: str | None = None,
) -> Outcome:
    """Places an order and opens its payment: `Outcome(201, order)` with the order's
    `payment.checkout_url` (None for a free order, paid at once with its passes).

    Raises every refusal of `orders.errors`, `PaymentProviderUnavailable`, the
    idempotency errors, and `ProviderError` (502) when the provider refuses to start the
    checkout (the order is then cancelled at once and its seats go back). `client_ip` is
    only logged (on a provider failure)."""
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
            return Outcome(claim.status, claim.body, replayed=True)
        started = claim
    try:
        view, payment = await db.amutation(_place, settings, body, actor, provider, started)
    except BaseException:
        await db.run(idempotency.abandon, db, started)
        raise
    if payment is not None:
        view = await _start_checkout(db, settings, view, payment, started, client_ip)
    return Outcome(201, view)


async def _start_checkout(
    db: Database,
    settings: Settings,
    view: dict[str, Any],
    payment: Payment,
    started: idempotency.Started | None,
    client_ip: str | None,
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
        log.warning("checkout for order %s (client %s) failed: %s", view["id"], client_ip, exc)
        error = exc if isinstance(exc, AppError) else ProviderError()
        problem = error.problem()

        def _fail(session: Session) -> None:
            payments.fail_checkout(session, settings, payment.id, error.code)
            idempotency.finish(session, started, error.status, problem)

        await db.amutation(_fail)
        raise error from exc
    view["payment"]["checkout_url"] = checkout.checkout_url

    def _record(session: Session) -> None:
        payments.record_checkout(session, payment.id, checkout)
        idempotency.finish(session, started, 201, view)

    await db.amutation(_record)
    return view
