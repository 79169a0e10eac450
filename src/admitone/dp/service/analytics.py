"""Campaign analytics: page views, downloads and shares counted in memory and written in
batches; generations and supporters read from the DPs themselves; referred orders and
tickets from the orders that carry a DP's referral code.

Why batched: a campaign page is the one page a whole audience opens when a DP link goes
round; an UPDATE of one counter row per view would serialise every view on that row. Each
process adds to a dict under a lock (no I/O) and writes the sums with one upsert per
(campaign, day) at most every `dp.counters_flush_seconds` (10 s), and before stats are
read. A process that dies loses at most that many seconds of its views (docs/dp.md).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, cast

from sqlalchemy import Select, Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.ids import DpCampaignId, UserId
from admitone.dp.models import DpDailyCounter, GeneratedDp
from admitone.dp.schemas import DayStats, DpReferrals, StatsOut
from admitone.dp.service.rules import guard_campaign
from admitone.orders.models import Order, OrderItem

log = logging.getLogger(__name__)

Kind = Literal["views", "downloads", "shares"]
KINDS: tuple[Kind, ...] = ("views", "downloads", "shares")


class Buffer:
    """One process's pending counts for one database."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, date, Kind]] = Counter()
        self.lock = threading.Lock()
        self.flushing = threading.Lock()
        self.last_flush = time.monotonic()

    def take(self) -> Counter[tuple[str, date, Kind]]:
        with self.lock:
            taken, self.counts = self.counts, Counter()
            self.last_flush = time.monotonic()
        return taken

    def give_back(self, counts: Counter[tuple[str, date, Kind]]) -> None:
        with self.lock:
            self.counts.update(counts)


_buffers: weakref.WeakKeyDictionary[Database, Buffer] = weakref.WeakKeyDictionary()
_buffers_lock = threading.Lock()


def buffer_for(db: Database) -> Buffer:
    with _buffers_lock:
        found = _buffers.get(db)
        if found is None:
            found = _buffers[db] = Buffer()
        return found


def count(db: Database, campaign_id: str, kind: Kind, flush_seconds: float) -> None:
    """Adds one `kind` to the campaign's day; writes the process's counts when they are
    older than `flush_seconds` (one request in that interval pays for the write)."""
    buffer = buffer_for(db)
    with buffer.lock:
        buffer.counts[(campaign_id, utcnow().date(), kind)] += 1
        due = time.monotonic() - buffer.last_flush >= flush_seconds
    if due:
        flush(db)


def flush(db: Database) -> int:
    """Writes the pending counts (one upsert per campaign and day); returns how many rows.
    Counts that fail to be written are kept for the next flush."""
    buffer = buffer_for(db)
    if not buffer.flushing.acquire(blocking=False):
        return 0  # another thread is writing them
    try:
        taken = buffer.take()
        if not taken:
            return 0
        rows: dict[tuple[str, date], dict[str, Any]] = {}
        for (campaign_id, day, kind), n in taken.items():
            row = rows.setdefault(
                (campaign_id, day),
                {"campaign_id": campaign_id, "day": day, **dict.fromkeys(KINDS, 0)},
            )
            row[kind] += n
        try:
            db.mutation(_upsert, list(rows.values()))
        except Exception:
            log.exception("DP counters could not be written; kept for the next flush")
            buffer.give_back(taken)
            return 0
        return len(rows)
    finally:
        buffer.flushing.release()


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = cast(Table, DpDailyCounter.__table__)
    for row in rows:
        statement = insert(table).values(**row)
        statement = statement.on_conflict_do_update(
            index_elements=["campaign_id", "day"],
            set_={k: table.c[k] + statement.excluded[k] for k in KINDS},
        )
        session.execute(statement)


def utc_day(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, in SQL (SQLite stores UTC text; a
    PostgreSQL `timestamptz` is turned to UTC first, whatever the session's time zone)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


@dataclass(frozen=True)
class Referred:
    orders: int
    tickets: int


def campaign_stats(session: Session, user_id: UserId, campaign_id: DpCampaignId) -> StatsOut:
    """The campaign's counts (`dp.manage`); the caller flushes this process's counts first."""
    campaign, _ = guard_campaign(session, user_id, campaign_id)
    days: dict[date, dict[str, int]] = {}

    def day(d: date) -> dict[str, int]:
        return days.setdefault(d, {"views": 0, "generations": 0, "downloads": 0, "shares": 0})

    for row in session.execute(
        select(DpDailyCounter).where(DpDailyCounter.campaign_id == campaign.id)
    ).scalars():
        entry = day(row.day)
        for kind in KINDS:
            entry[kind] += getattr(row, kind)
    for made_on, n in session.execute(
        select(utc_day(session, GeneratedDp.created_at).label("d"), func.count())
        .where(GeneratedDp.campaign_id == campaign.id)
        .group_by("d")
    ):
        day(made_on if isinstance(made_on, date) else date.fromisoformat(made_on))[
            "generations"
        ] += n
    supporters = session.scalar(
        select(func.count(func.distinct(GeneratedDp.supporter_key))).where(
            GeneratedDp.campaign_id == campaign.id
        )
    )
    referred = referred_counts(session, campaign.id)
    top = referred_by_dp(session, campaign.id)
    by_day = [DayStats(day=d, **v) for d, v in sorted(days.items())]
    return StatsOut(
        views=sum(d.views for d in by_day),
        generations=sum(d.generations for d in by_day),
        downloads=sum(d.downloads for d in by_day),
        shares=sum(d.shares for d in by_day),
        supporters=supporters or 0,
        referred_orders=referred.orders,
        referred_tickets=referred.tickets,
        by_day=by_day,
        by_dp=[
            DpReferrals(id=r.id, referral_code=r.share_code, orders=r.orders, tickets=r.tickets)
            for r in top
        ],
    )


# Orders that count as brought: paid, also after a partial refund.
REFERRED_STATUSES = ("paid", "partially_refunded")


def _referred(campaign_id: DpCampaignId) -> Select[Any]:
    """(share code, orders, tickets) per DP of the campaign that brought a paid order. Reads
    the orders domain's tables (models are shared), never its services."""
    tickets = (
        select(OrderItem.order_id, func.sum(OrderItem.quantity).label("tickets"))
        .where(OrderItem.tier_id.is_not(None))
        .group_by(OrderItem.order_id)
        .subquery()
    )
    return (
        select(
            GeneratedDp.id,
            GeneratedDp.share_code,
            func.count(Order.id).label("orders"),
            func.coalesce(func.sum(tickets.c.tickets), 0).label("tickets"),
        )
        .join(Order, Order.referral_code == GeneratedDp.share_code)
        .outerjoin(tickets, tickets.c.order_id == Order.id)
        .where(GeneratedDp.campaign_id == campaign_id, Order.status.in_(REFERRED_STATUSES))
        .group_by(GeneratedDp.id, GeneratedDp.share_code)
    )


def referred_counts(session: Session, campaign_id: DpCampaignId) -> Referred:
    """Paid orders (and their tickets) placed with a referral code of one of the
    campaign's DPs."""
    rows = session.execute(_referred(campaign_id)).all()
    return Referred(sum(int(r.orders) for r in rows), sum(int(r.tickets) for r in rows))


def referred_by_dp(session: Session, campaign_id: DpCampaignId, limit: int = 20) -> list[Any]:
    """The DPs that brought the most orders, most first."""
    query = (
        _referred(campaign_id).order_by(func.count(Order.id).desc(), GeneratedDp.id).limit(limit)
    )
    return list(session.execute(query).all())
