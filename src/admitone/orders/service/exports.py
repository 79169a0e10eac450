"""The organizer's CSV export of an event's orders: one row per order line, oldest first
(a ledger), with spreadsheet formulas in buyer-typed text neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, require_capability
from admitone.core.ids import EventId, UserId
from admitone.orders.service.common import OrderDetails
from admitone.orders.service.reads import all_orders_of_event

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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def orders_for_export(
    session: Session, actor_user_id: UserId, event_id: EventId
) -> list[OrderDetails]:
    """Every order of the event (`order.export` on it), newest first."""
    require_capability(session, actor_user_id, Capability.ORDER_EXPORT, Scope.event(event_id))
    return all_orders_of_event(session, event_id)


def csv_rows(found: list[OrderDetails]) -> Iterator[str]:
    """The CSV text, one chunk per order (streamed after the read transaction ended)."""
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
