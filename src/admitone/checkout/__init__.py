"""Checkout: the buyer's and the organizer's use cases that span orders and payments.

`orders` (stock, order rows, history) and `payments` (provider payments, refunds) do not
import each other; what needs both is here, above them in the layers:

- `place_order(db, settings, body, actor, idempotency_key=..., client_ip=...)` (async):
  order placement and payment opening in one mutation, then the provider's checkout URL
  fetched outside any transaction and recorded; idempotent under `Idempotency-Key`.
  Returns the API's order representation (with `payment.checkout_url`); a page can call
  it as the API route does.
- `refund_order(...)`: the organizer's refund (stock back, passes revoked, money to send
  back, audit), idempotent under `Idempotency-Key`.
- `cancel_order`, `read_order`, `buyer_orders`, `event_orders`: the order as the API shows
  it, with its payment, passes and refunds (`views.order_view`).
"""

from __future__ import annotations

from admitone.checkout.placing import Outcome, place_order
from admitone.checkout.reads import (
    buyer_orders,
    cancel_order,
    check_readable,
    event_orders,
    read_order,
    read_order_by_id,
)
from admitone.checkout.refunds import refund_order
from admitone.checkout.views import order_view

__all__ = [
    "Outcome",
    "buyer_orders",
    "cancel_order",
    "check_readable",
    "event_orders",
    "order_view",
    "place_order",
    "read_order",
    "read_order_by_id",
    "refund_order",
]
