"""The door's reads: the door list, the scan log and the offline bundle (`checkin.scan`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, require_capability
from admitone.checkins.models import CheckIn, CheckInScan
from admitone.checkins.service.checkpoints import list_checkpoints
from admitone.checkins.service.model import PAID_ORDER_STATUSES
from admitone.core.clock import utcnow
from admitone.core.ids import CheckInScanId, EventId, PassId, UserId
from admitone.core.pagination import Keyset, SortKey
from admitone.events.models import TicketTier
from admitone.orders.models import Order
from admitone.passes.codes import QR_PREFIX, event_public_key, normalize_code
from admitone.passes.models import Pass

# A delta bundle re-sends rows changed this long before the version it was asked from, so a
# transaction that committed late (its timestamps are older than its commit) is not missed.
DELTA_OVERLAP = timedelta(minutes=2)


def _effective() -> Any:
    return CheckIn.undone_at.is_(None)


_SORT_NAME = func.coalesce(Pass.attendee_name, "")
DOOR_LIST_ORDER = Keyset(
    SortKey(_SORT_NAME, str, attribute="sort_name"), SortKey(Pass.id, PassId, attribute="pass_id")
)
SCAN_LOG_ORDER = Keyset(
    SortKey(CheckInScan.created_at, datetime, descending=True),
    SortKey(CheckInScan.id, CheckInScanId, descending=True),
)


def door_list(
    session: Session,
    actor_id: UserId,
    event_id: EventId,
    query: str | None,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Passes of the event matching a name, e-mail (attendee or buyer) or code, sorted by
    attendee name, with when each was first admitted anywhere."""
    first_in = (
        select(CheckIn.pass_id, func.min(CheckIn.scanned_at).label("at"))
        .where(CheckIn.event_id == event_id, CheckIn.direction == "in", _effective())
        .group_by(CheckIn.pass_id)
        .subquery()
    )
    require_capability(session, actor_id, Capability.CHECKIN_SCAN, Scope.event(event_id))
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
            _SORT_NAME.label("sort_name"),
            Pass.id.label("pass_id"),
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
    rows, next_cursor = DOOR_LIST_ORDER.page(
        session, stmt, limit=limit, cursor=cursor, scalars=False
    )
    items = [
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
        }
        for r in rows
    ]
    return items, next_cursor


def offline_bundle(
    session: Session, secret: bytes, actor_id: UserId, event_id: EventId, since: datetime | None
) -> dict[str, Any]:
    """What a scanner needs to admit without a network: the event's public key, the
    checkpoints, every pass with the fields a door needs, and the check-ins so far. With
    `since` (a previous bundle's version) only what changed since then (with an overlap)."""
    require_capability(session, actor_id, Capability.CHECKIN_SCAN, Scope.event(event_id))
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
    actor_id: UserId,
    event_id: EventId,
    *,
    conflicts_only: bool,
    limit: int,
    cursor: str | None,
) -> tuple[list[CheckInScan], str | None]:
    """The event's scans, newest first; with `conflicts_only`, those the door team should
    look at (offline conflicts, passes revoked after an offline admission)."""
    require_capability(session, actor_id, Capability.CHECKIN_SCAN, Scope.event(event_id))
    stmt = select(CheckInScan).where(CheckInScan.event_id == event_id)
    if conflicts_only:
        stmt = stmt.where(CheckInScan.needs_review)
    return SCAN_LOG_ORDER.page(session, stmt, limit=limit, cursor=cursor)
