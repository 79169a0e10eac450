"""Orders: placing (reservation), payment, closing (expiry, cancellation), refunds, reads.

Lifecycle (`models.OrderStatus`): `pending -> paid -> (partially_refunded | refunded)`,
`pending -> expired | cancelled`; a payment that arrives after expiry re-reserves into
`paid` when stock remains. Every state change writes an `order_history` row; orders are
never deleted. Stock moves only through the conditional UPDATEs in `inventory`, and the
reservation is the last statement of placing's transaction so the hot tier row is locked
as briefly as possible.

Orders never import payments: the use cases that need both (place and pay, refund, the
order with its payment) live in `checkout`, above both.

- `placing`: `prepare_order`, `reserve_stock`, `place_order`, passes, `queue_confirmation`
- `payment`: `confirm_payment`, `record_payment_failed`, `note` (called by payments)
- `closing`: `expire_order`, `cancel_order`, `cancel_as`, `open_orders_of_event`
- `refunds`: `refund_order` (the order's side of a refund)
- `reads`: `order_details`, `readable`, `orders_of_buyer`, `orders_of_event`, drift
- `exports`: the CSV export
"""

from __future__ import annotations

from admitone.orders.service.closing import (
    cancel_as,
    cancel_order,
    due_for_expiry,
    expire_order,
    open_orders_of_event,
)
from admitone.orders.service.common import (
    AddonLine,
    Attendee,
    OrderDetails,
    OrderRequest,
    TicketLine,
    buyer_key,
    get_order,
    items_of,
    order_token,
    order_topic,
    token_matches,
)
from admitone.orders.service.exports import CSV_COLUMNS, csv_rows, orders_for_export
from admitone.orders.service.payment import (
    PaymentOutcome,
    PaymentResult,
    confirm_payment,
    note,
    record_payment_failed,
)
from admitone.orders.service.placing import (
    PreparedOrder,
    place_order,
    prepare_order,
    queue_confirmation,
    reserve_stock,
)
from admitone.orders.service.reads import (
    NEWEST,
    drift_report,
    order_details,
    orders_of_buyer,
    orders_of_event,
    readable,
    readable_order,
)
from admitone.orders.service.refunds import RefundPlan, refund_order

__all__ = [
    "CSV_COLUMNS",
    "NEWEST",
    "AddonLine",
    "Attendee",
    "OrderDetails",
    "OrderRequest",
    "PaymentOutcome",
    "PaymentResult",
    "PreparedOrder",
    "RefundPlan",
    "TicketLine",
    "buyer_key",
    "cancel_as",
    "cancel_order",
    "confirm_payment",
    "csv_rows",
    "drift_report",
    "due_for_expiry",
    "expire_order",
    "get_order",
    "items_of",
    "note",
    "open_orders_of_event",
    "order_details",
    "order_token",
    "order_topic",
    "orders_for_export",
    "orders_of_buyer",
    "orders_of_event",
    "place_order",
    "prepare_order",
    "queue_confirmation",
    "readable",
    "readable_order",
    "record_payment_failed",
    "refund_order",
    "reserve_stock",
    "token_matches",
]
