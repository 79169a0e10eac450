"""Read side of the door: live stats, the door list, the offline bundle and the scan log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, case, cast, distinct, func, or_, select
from sqlalchemy.orm import Session

from admitone.checkins.models import CheckIn, CheckInScan, Checkpoint
from admitone.checkins.service import PAID_ORDER_STATUSES, list_checkpoints
from admitone.core.clock import utcnow
from admitone.events.models import TicketTier
from admitone.orders.models import Order
from admitone.passes.codes import QR_PREFIX, event_public_key, normalize_code
from admitone.passes.models import Pass

# A delta bundle re-sends rows changed this long before the version it was asked from, so a
# transaction that committed late (its timestamps are older than its commit) is not missed.
DELTA_OVERLAP = timedelta(minutes=2)


def _effective() -> Any:
    return CheckIn.undone_at.is_(None)


def checkin_stats(session: Session, event_id: str) -> dict[str, Any]:
    """`{checked_in, expected, by_tier, by_checkpoint}`. A person counts once however many
    checkpoints or re-entries they went through (distinct passes with an entry); `inside`
    counts, per re-entry checkpoint, passes whose last passage was an entry."""
    tiers = session.execute(
        select(TicketTier.id, TicketTier.name)
        .where(TicketTier.event_id == event_id)
        .order_by(TicketTier.position, TicketTier.created_at, TicketTier.id)
    ).all()
    expected = dict(
        session.execute(
            select(Pass.tier_id, func.count())
            .where(Pass.event_id == event_id, Pass.status == "valid")
            .group_by(Pass.tier_id)
        ).all()
    )
    entered = (
        select(CheckIn.pass_id)
        .where(CheckIn.event_id == event_id, CheckIn.direction == "in", _effective())
        .distinct()
        .subquery()
    )
    checked_in = dict(
        session.execute(
            select(Pass.tier_id, func.count())
            .join(entered, entered.c.pass_id == Pass.id)
            .group_by(Pass.tier_id)
        ).all()
    )
    balance = (
        select(
            CheckIn.checkpoint_id,
            CheckIn.pass_id,
            func.sum(case((CheckIn.direction == "in", 1), else_=-1)).label("net"),
        )
        .where(CheckIn.event_id == event_id, _effective())
        .group_by(CheckIn.checkpoint_id, CheckIn.pass_id)
        .subquery()
    )
    per_checkpoint = {
        row[0]: (row[1], row[2])
        for row in session.execute(
            select(
                balance.c.checkpoint_id,
                func.count(),
                func.sum(cast(balance.c.net > 0, Integer)),
            ).group_by(balance.c.checkpoint_id)
        )
    }
    entries = dict(
        session.execute(
            select(CheckIn.checkpoint_id, func.count(distinct(CheckIn.pass_id)))
            .where(CheckIn.event_id == event_id, CheckIn.direction == "in", _effective())
            .group_by(CheckIn.checkpoint_id)
        ).all()
    )
    checkpoints = session.execute(
        select(Checkpoint.id, Checkpoint.name, Checkpoint.allows_reentry)
        .where(Checkpoint.event_id == event_id)
        .order_by(Checkpoint.is_default.desc(), Checkpoint.created_at, Checkpoint.id)
    ).all()
    return {
        "event_id": event_id,
        "checked_in": sum(checked_in.values()),
        "expected": sum(expected.values()),
        "by_tier": [
            {
                "tier_id": tid,
                "name": name,
                "checked_in": checked_in.get(tid, 0),
                "expected": expected.get(tid, 0),
            }
            for tid, name in tiers
        ],
        "by_checkpoint": [
            {
                "checkpoint_id": cid,
                "name": name,
                "checked_in": entries.get(cid, 0),
                "inside": int(per_checkpoint.get(cid, (0, 0))[1] or 0) if reentry else None,
            }
            for cid, name, reentry in checkpoints
        ],
    }


def door_list(
    session: Session, event_id: str, query: str | None, *, limit: int, after: tuple[str, str] | None
) -> list[dict[str, Any]]:
    """Passes of the event matching a name, e-mail (attendee or buyer) or code, sorted by
    attendee name, with when each was first admitted anywhere."""
    first_in = (
        select(CheckIn.pass_id, func.min(CheckIn.scanned_at).label("at"))
        .where(CheckIn.event_id == event_id, CheckIn.direction == "in", _effective())
        .group_by(CheckIn.pass_id)
        .subquery()
    )
    sort_name = func.coalesce(Pass.attendee_name, "")
    stmt = (
        select(
            Pass.id,
            Pass.code,
            Pass.tier_id,
            TicketTier.name,
            Pass.attendee_name,
            Pass.attendee_email,
            Pass.status,
            Order.status,
            Order.buyer_email,
            first_in.c.at,
            sort_name.label("sort_name"),
        )
        .join(TicketTier, TicketTier.id == Pass.tier_id)
        .join(Order, Order.id == Pass.order_id)
        .outerjoin(first_in, first_in.c.pass_id == Pass.id)
        .where(Pass.event_id == event_id)
    )
    if query:
        term = query.strip().lower()
        pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions: list[ColumnElement[bool]] = [
            func.lower(Pass.attendee_name).like(pattern, escape="\\"),
            func.lower(Pass.attendee_email).like(pattern, escape="\\"),
            func.lower(Order.buyer_email).like(pattern, escape="\\"),
        ]
        code = normalize_code(query)
        if code is not None:
            conditions.append(Pass.code == code)
        stmt = stmt.where(or_(*conditions))
    if after is not None:
        name, last_id = after
        stmt = stmt.where(or_(sort_name > name, (sort_name == name) & (Pass.id > last_id)))
    rows = session.execute(stmt.order_by(sort_name, Pass.id).limit(limit)).all()
    return [
        {
            "pass_id": r[0],
            "code": r[1],
            "tier_id": r[2],
            "tier_name": r[3],
            "attendee_name": r[4],
            "attendee_email": r[5],
            "status": r[6] if r[7] in PAID_ORDER_STATUSES or r[6] == "revoked" else "unpaid",
            "buyer_email": r[8],
            "checked_in_at": r[9],
            "sort_name": r[10],
        }
        for r in rows
    ]


def offline_bundle(
    session: Session, secret: bytes, event_id: str, since: datetime | None
) -> dict[str, Any]:
    """What a scanner needs to admit without a network: the event's public key, the
    checkpoints, every pass with the fields a door needs, and the check-ins so far. With
    `since` (a previous bundle's version) only what changed since then (with an overlap)."""
    version = utcnow()
    checkpoints = list_checkpoints(session, event_id)
    passes = (
        select(
            Pass.id,
            Pass.code,
            Pass.tier_id,
            Pass.attendee_name,
            Pass.status,
            Order.status,
            Pass.updated_at,
        )
        .join(Order, Order.id == Pass.order_id)
        .where(Pass.event_id == event_id)
    )
    check_ins = select(
        CheckIn.id,
        CheckIn.pass_id,
        CheckIn.checkpoint_id,
        CheckIn.sequence,
        CheckIn.direction,
        CheckIn.scanned_at,
        CheckIn.undone_at,
    ).where(CheckIn.event_id == event_id)
    if since is not None:
        cutoff = since - DELTA_OVERLAP
        passes = passes.where(or_(Pass.updated_at >= cutoff, Order.updated_at >= cutoff))
        check_ins = check_ins.where(or_(CheckIn.created_at >= cutoff, CheckIn.undone_at >= cutoff))
    return {
        "event_id": event_id,
        "version": version.isoformat(),
        "since": since.isoformat() if since else None,
        "is_delta": since is not None,
        "key": {
            "algorithm": "Ed25519",
            "public_key": event_public_key(secret, event_id),
            "qr_prefix": QR_PREFIX,
        },
        "checkpoints": [
            {
                "id": c.id,
                "event_id": c.event_id,
                "name": c.name,
                "is_default": c.is_default,
                "tier_ids": c.tier_ids,
                "session_id": c.session_id,
                "opens_at": c.opens_at,
                "closes_at": c.closes_at,
                "allows_reentry": c.allows_reentry,
            }
            for c in checkpoints
        ],
        "passes": [
            {
                "id": r[0],
                "code": r[1],
                "tier_id": r[2],
                "attendee_name": r[3],
                "status": r[4] if r[5] in PAID_ORDER_STATUSES or r[4] == "revoked" else "unpaid",
            }
            for r in session.execute(passes.order_by(Pass.id))
        ],
        "check_ins": [
            {
                "id": r[0],
                "pass_id": r[1],
                "checkpoint_id": r[2],
                "sequence": r[3],
                "direction": r[4],
                "scanned_at": r[5],
                "is_undone": r[6] is not None,
            }
            for r in session.execute(check_ins.order_by(CheckIn.created_at, CheckIn.id))
        ],
    }


def scan_log(
    session: Session,
    event_id: str,
    *,
    conflicts_only: bool,
    limit: int,
    after: tuple[str, str] | None,
) -> list[CheckInScan]:
    """The event's scans, newest first; with `conflicts_only`, those the door team should
    look at (offline conflicts, passes revoked after an offline admission)."""
    stmt = select(CheckInScan).where(CheckInScan.event_id == event_id)
    if conflicts_only:
        stmt = stmt.where(CheckInScan.needs_review)
    if after is not None:
        at = datetime.fromisoformat(after[0])
        stmt = stmt.where(
            or_(
                CheckInScan.created_at < at,
                (CheckInScan.created_at == at) & (CheckInScan.id < after[1]),
            )
        )
    return list(
        session.scalars(
            stmt.order_by(CheckInScan.created_at.desc(), CheckInScan.id.desc()).limit(limit)
        )
    )
