"""Live check-in counts of an event (`event.read`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Integer, case, cast, distinct, func, select
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, require_capability
from admitone.checkins.models import CheckIn, Checkpoint
from admitone.core.ids import EventId, UserId
from admitone.events.models import TicketTier
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


def stats(session: Session, actor_id: UserId, event_id: EventId) -> dict[str, Any]:
    require_capability(session, actor_id, Capability.EVENT_READ, Scope.event(event_id))
    return checkin_stats(session, event_id)


def guard_stats(session: Session, actor_id: UserId, event_id: EventId) -> None:
    """The check before a stats stream opens (the stream then reads `checkin_stats`)."""
    require_capability(session, actor_id, Capability.EVENT_READ, Scope.event(event_id))
