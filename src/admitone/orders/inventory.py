"""Stock counters of ticket tiers and add-ons: every change is one conditional UPDATE.

Invariant (also a CHECK in the database): `held_count + sold_count <= capacity`.
`held_count` counts units in pending orders, `sold_count` units in paid ones. Rows are
always touched in id order so that two transactions never wait on each other in a cycle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam, case, func, or_, select, text, update
from sqlalchemy.orm import Session

from admitone.core.db import DriverStatement
from admitone.core.ids import AddonId, EventId, InventoryDriftId, TicketTierId
from admitone.events.models import TicketTier
from admitone.orders.models import Addon, InventoryDrift, Order, OrderItem

log = logging.getLogger(__name__)

Stock = type[TicketTier] | type[Addon]
StockId = TicketTierId | AddonId

LIVE_HELD = ("pending",)
LIVE_SOLD = ("paid", "partially_refunded")


def _reserve_statement(model: Stock, into: str) -> Any:
    """`SET <into> = <into> + :k WHERE id = :row_id AND held + sold + :k <= capacity AND
    <on sale at :now>`, built once: the hot path only binds parameters."""
    table: Any = model.__table__
    c = table.c
    column = c.held_count if into == "held" else c.sold_count
    k: Any = bindparam("k")
    now: Any = bindparam("now")
    cond = [c.id == bindparam("row_id"), c.held_count + c.sold_count + k <= c.capacity]
    if model is TicketTier:
        cond += [
            c.is_paused.is_(False),
            or_(c.sales_start_at.is_(None), c.sales_start_at <= now),
            or_(c.sales_end_at.is_(None), c.sales_end_at > now),
        ]
    else:
        cond.append(c.is_active.is_(True))
    return (
        update(table)
        .where(*cond)
        .values({column.key: column + k, "updated_at": now})
        .returning(c.id)
    )


_RESERVE = {
    (model, into): DriverStatement(_reserve_statement(model, into))
    for model in (TicketTier, Addon)
    for into in ("held", "sold")
}


def reserve(
    session: Session, model: Stock, row_id: StockId, k: int, *, into: str, now: datetime
) -> bool:
    """Adds `k` to `held_count` (into="held") or `sold_count` (into="sold") if capacity,
    the paused flag and the sales window allow it; returns False otherwise."""
    return len(_RESERVE[(model, into)].rows(session, {"row_id": row_id, "k": k, "now": now})) == 1


def restore_sold(session: Session, model: Stock, row_id: StockId, k: int) -> bool:
    """Adds `k` sold units back for a payment that arrived after its reservation was
    released: only capacity matters (the buyer already paid; a pause does not refuse it)."""
    result = session.execute(
        update(model)
        .where(model.id == row_id, model.held_count + model.sold_count + k <= model.capacity)
        .values(sold_count=model.sold_count + k)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def held_to_sold(session: Session, model: Stock, row_id: StockId, k: int) -> bool:
    result = session.execute(
        update(model)
        .where(model.id == row_id, model.held_count >= k)
        .values(held_count=model.held_count - k, sold_count=model.sold_count + k)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def release(session: Session, model: Stock, row_id: StockId, k: int, *, held: bool) -> None:
    """Gives `k` units back from held (pending order) or sold (refund). A counter that
    would go negative is drift: logged, left for `orders.reconcile_inventory` to report."""
    column = model.held_count if held else model.sold_count
    result = session.execute(
        update(model)
        .where(model.id == row_id, column >= k)
        .values({column.key: column - k})
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        log.error(
            "inventory drift: %s %s cannot release %d %s",
            model.__tablename__,
            row_id,
            k,
            "held" if held else "sold",
        )


_BUYER_UPSERT = DriverStatement(
    text(
        "INSERT INTO order_buyer_counts (tier_id, buyer_key, quantity) VALUES (:t, :b, :k) "
        "ON CONFLICT (tier_id, buyer_key) DO UPDATE "
        "SET quantity = order_buyer_counts.quantity + excluded.quantity "
        "WHERE order_buyer_counts.quantity + excluded.quantity <= :limit "
        "RETURNING quantity"
    ).columns(quantity=Integer)
)


def count_for_buyer(
    session: Session, tier_id: TicketTierId, buyer_key: str, k: int, limit: int
) -> bool:
    """Adds `k` to what the buyer holds of the tier unless that passes `limit`."""
    if k > limit:
        return False
    params = {"t": tier_id, "b": buyer_key, "k": k, "limit": limit}
    return len(_BUYER_UPSERT.rows(session, params)) == 1


def uncount_for_buyer(session: Session, tier_id: TicketTierId, buyer_key: str, k: int) -> None:
    session.execute(
        text(
            "UPDATE order_buyer_counts SET quantity = quantity - :k "
            "WHERE tier_id = :t AND buyer_key = :b AND quantity >= :k"
        ),
        {"t": tier_id, "b": buyer_key, "k": k},
    )


def add_for_buyer(session: Session, tier_id: TicketTierId, buyer_key: str, k: int) -> None:
    """Counts `k` without a limit (a late payment that was re-reserved)."""
    _BUYER_UPSERT.rows(session, {"t": tier_id, "b": buyer_key, "k": k, "limit": 1 << 30})


# --- reconciliation ---------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    event_id: EventId
    kind: str  # tier or addon
    row_id: StockId
    held_counter: int
    held_rows: int
    sold_counter: int
    sold_rows: int

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _recount(
    session: Session, model: Stock, item_col: Any, event_id: EventId | None
) -> list[Drift]:
    live = OrderItem.quantity - OrderItem.refunded_quantity
    held = func.coalesce(func.sum(case((Order.status.in_(LIVE_HELD), live), else_=0)), 0)
    sold = func.coalesce(func.sum(case((Order.status.in_(LIVE_SOLD), live), else_=0)), 0)
    counts = (
        select(item_col.label("row_id"), held.label("held"), sold.label("sold"))
        .join(Order, Order.id == OrderItem.order_id)
        .where(item_col.is_not(None))
        .group_by(item_col)
        .subquery()
    )
    query = select(
        model.event_id,
        model.id,
        model.held_count,
        model.sold_count,
        func.coalesce(counts.c.held, 0),
        func.coalesce(counts.c.sold, 0),
    ).outerjoin(counts, counts.c.row_id == model.id)
    if event_id is not None:
        query = query.where(model.event_id == event_id)
    query = query.where(
        or_(
            model.held_count != func.coalesce(counts.c.held, 0),
            model.sold_count != func.coalesce(counts.c.sold, 0),
        )
    )
    kind = "tier" if model is TicketTier else "addon"
    return [
        Drift(ev, kind, rid, int(hc), int(hr), int(sc), int(sr))
        for ev, rid, hc, sc, hr, sr in session.execute(query)
    ]


def find_drift(session: Session, event_id: EventId | None = None) -> list[Drift]:
    """Counters that disagree with what the order rows say (pending = held, paid = sold)."""
    return _recount(session, TicketTier, OrderItem.tier_id, event_id) + _recount(
        session, Addon, OrderItem.addon_id, event_id
    )


def record_drift(session: Session, drifts: list[Drift]) -> None:
    for d in drifts:
        log.warning("inventory drift %s", d.as_dict())
        session.add(
            InventoryDrift(
                id=InventoryDriftId.new(),
                event_id=d.event_id,
                tier_id=d.row_id if d.kind == "tier" else None,
                addon_id=d.row_id if d.kind == "addon" else None,
                held_counter=d.held_counter,
                held_rows=d.held_rows,
                sold_counter=d.sold_counter,
                sold_rows=d.sold_rows,
            )
        )
    session.flush()


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
