"""The one place the pages place an order: `checkout.place_order`, the place-and-pay
entry point `POST /api/v1/orders` uses (the same rules, limits, reservation, idempotency
and checkout start), called with the page's buyer."""

from __future__ import annotations

from typing import Any

from admitone.auth.deps import Actor
from admitone.checkout import place_order as checkout_place_order
from admitone.core.db import Database
from admitone.core.errors import AppError
from admitone.orders.schemas import OrderIn
from admitone.settings import Settings


class ReplayedProblem(AppError):
    """A form posted again with the same key after the first post was refused: the first
    answer's message again."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("detail") or "The order could not be placed."))
        self.status = status  # type: ignore[misc]
        self.code = str(body.get("code") or "bad_request")  # type: ignore[misc]


async def place_order(
    db: Database,
    settings: Settings,
    body: OrderIn,
    actor: Actor | None,
    *,
    idempotency_key: str | None,
    client_ip: str | None,
) -> dict[str, Any]:
    """The placed order's view (`id`, `order_token`, `payment.checkout_url`, ...); raises
    the domain's errors (`tier_sold_out`, `limit_exceeded`, ...) as the API does. The form
    carries an idempotency key, so a double submit places one order."""
    outcome = await checkout_place_order(
        db, settings, body, actor, idempotency_key=idempotency_key, client_ip=client_ip
    )
    if outcome.is_problem:
        raise ReplayedProblem(outcome.status, outcome.body)
    return outcome.body
