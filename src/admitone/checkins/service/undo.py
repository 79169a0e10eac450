"""Undoing a mistaken check-in (capability `checkin.manage`, audited)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, guard
from admitone.checkins.errors import CheckInAlreadyUndone, CheckInNotFound
from admitone.checkins.models import CheckIn
from admitone.checkins.service.model import checkins_topic
from admitone.core.clock import utcnow
from admitone.core.db import publish
from admitone.core.ids import CheckInId, EventId, UserId


def undo(session: Session, actor_id: UserId, event_id: EventId, check_in_id: CheckInId) -> CheckIn:
    """The use case: check, undo, audit."""
    g = guard(session, actor_id, Capability.CHECKIN_MANAGE, Scope.event(event_id))
    row = undo_check_in(session, event_id=event_id, check_in_id=check_in_id)
    assert row.undone_at is not None
    g.audit(
        "check_in.undone",
        "check_in",
        row.id,
        before={"pass_id": row.pass_id, "checkpoint_id": row.checkpoint_id, "undone": False},
        after={"undone_at": row.undone_at.isoformat()},
    )
    return row


def undo_check_in(session: Session, *, event_id: str, check_in_id: str) -> CheckIn:
    """Marks a mistaken check-in undone (the row stays, for the record); the pass can then be
    admitted again with the next sequence number. Conditional, so it happens once."""
    now = utcnow()
    undone = session.execute(
        update(CheckIn)
        .where(
            CheckIn.id == check_in_id,
            CheckIn.event_id == event_id,
            CheckIn.undone_at.is_(None),
        )
        .values(undone_at=now)
        .returning(CheckIn.id),
        execution_options={"synchronize_session": False},
    ).scalar()
    row = session.get(CheckIn, check_in_id, populate_existing=True)
    if row is None or row.event_id != event_id:
        raise CheckInNotFound()
    if undone is None:
        raise CheckInAlreadyUndone()
    publish(session, checkins_topic(event_id))
    return row
