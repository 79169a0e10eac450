"""Checkpoints (check-in lists): the default one made on first use, creating and changing
the others. `list_for_door`, `add` and `change` are the use cases (capability, audit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, guard
from admitone.checkins.errors import (
    CheckpointNotFound,
    InvalidWindow,
    UnknownSession,
    UnknownTier,
)
from admitone.checkins.models import Checkpoint
from admitone.checkins.schemas import CheckpointOut
from admitone.core.clock import utcnow
from admitone.core.db import insert_for
from admitone.core.errors import Invalid
from admitone.core.ids import CheckpointId, EventId, UserId
from admitone.events.models import EventSession, TicketTier


def default_checkpoint(session: Session, event_id: str) -> Checkpoint:
    """The event's default checkpoint (all tiers, always open, no re-entry), created on
    first use. Two first scans racing both end with the same row: the insert is
    `ON CONFLICT DO NOTHING` on the partial unique index of default checkpoints."""
    found = session.scalars(
        select(Checkpoint).where(Checkpoint.event_id == event_id, Checkpoint.is_default)
    ).first()
    if found is not None:
        return found
    now = utcnow()
    stmt = (
        insert_for(session, Checkpoint)
        .values(
            id=CheckpointId.new(),
            event_id=event_id,
            name="Main entrance",
            is_default=True,
            allows_reentry=False,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=["event_id"],
            # The index's own predicate, as written: both databases match it textually.
            index_where=Checkpoint.is_default,  # type: ignore[arg-type]
        )
    )
    session.execute(stmt)
    return session.scalars(
        select(Checkpoint).where(Checkpoint.event_id == event_id, Checkpoint.is_default)
    ).one()


def get_checkpoint(session: Session, event_id: str, checkpoint_id: str | None) -> Checkpoint:
    if checkpoint_id is None:
        return default_checkpoint(session, event_id)
    found = session.get(Checkpoint, checkpoint_id)
    if found is None or found.event_id != event_id:
        raise CheckpointNotFound()
    return found


def list_checkpoints(session: Session, event_id: str) -> list[Checkpoint]:
    default_checkpoint(session, event_id)
    return list(
        session.scalars(
            select(Checkpoint)
            .where(Checkpoint.event_id == event_id)
            .order_by(Checkpoint.is_default.desc(), Checkpoint.created_at, Checkpoint.id)
        )
    )


@dataclass(frozen=True)
class CheckpointSpec:
    name: str
    tier_ids: list[str] | None = None
    session_id: str | None = None
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    allows_reentry: bool = False


def _validate_spec(session: Session, event_id: str, spec: CheckpointSpec) -> None:
    if spec.opens_at and spec.closes_at and spec.closes_at <= spec.opens_at:
        raise InvalidWindow()
    if spec.tier_ids:
        known = set(
            session.scalars(
                select(TicketTier.id).where(
                    TicketTier.event_id == event_id, TicketTier.id.in_(spec.tier_ids)
                )
            )
        )
        missing = sorted(set(spec.tier_ids) - known)
        if missing:
            raise UnknownTier(tier_ids=missing)
    if spec.session_id is not None:
        owner = session.scalar(
            select(EventSession.event_id).where(EventSession.id == spec.session_id)
        )
        if owner != event_id:
            raise UnknownSession()


def create_checkpoint(session: Session, event_id: str, spec: CheckpointSpec) -> Checkpoint:
    _validate_spec(session, event_id, spec)
    checkpoint = Checkpoint(
        id=CheckpointId.new(),
        event_id=event_id,
        name=spec.name,
        is_default=False,
        tier_ids=list(dict.fromkeys(spec.tier_ids)) if spec.tier_ids is not None else None,
        session_id=spec.session_id,
        opens_at=spec.opens_at,
        closes_at=spec.closes_at,
        allows_reentry=spec.allows_reentry,
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint


def update_checkpoint(
    session: Session, checkpoint: Checkpoint, changes: dict[str, Any]
) -> Checkpoint:
    """Applies the given fields (absent ones stay as they are)."""
    merged = CheckpointSpec(
        name=changes.get("name", checkpoint.name),
        tier_ids=changes.get("tier_ids", checkpoint.tier_ids),
        session_id=changes.get("session_id", checkpoint.session_id),
        opens_at=changes.get("opens_at", checkpoint.opens_at),
        closes_at=changes.get("closes_at", checkpoint.closes_at),
        allows_reentry=changes.get("allows_reentry", checkpoint.allows_reentry),
    )
    _validate_spec(session, checkpoint.event_id, merged)
    for key, value in changes.items():
        setattr(checkpoint, key, value)
    session.flush()
    return checkpoint


def checkpoint_view(checkpoint: Checkpoint) -> dict[str, Any]:
    """The checkpoint as the API shows it (its audit snapshots)."""
    return CheckpointOut.model_validate(checkpoint, from_attributes=True).model_dump(mode="json")


def list_for_door(session: Session, actor_id: UserId, event_id: EventId) -> list[Checkpoint]:
    """`checkin.scan`; a mutation, because the default checkpoint is made on first use."""
    guard(session, actor_id, Capability.CHECKIN_SCAN, Scope.event(event_id))
    return list_checkpoints(session, event_id)


def add(session: Session, actor_id: UserId, event_id: EventId, spec: CheckpointSpec) -> Checkpoint:
    g = guard(session, actor_id, Capability.CHECKIN_MANAGE, Scope.event(event_id))
    created = create_checkpoint(session, event_id, spec)
    g.audit("checkpoint.created", "checkpoint", created.id, after=checkpoint_view(created))
    return created


def change(
    session: Session, actor_id: UserId, checkpoint_id: CheckpointId, changes: dict[str, Any]
) -> Checkpoint:
    for key in ("name", "allows_reentry"):
        if key in changes and changes[key] is None:
            raise Invalid(f"`{key}` cannot be null.", field=key)
    found = session.get(Checkpoint, checkpoint_id)
    if found is None:
        raise CheckpointNotFound()
    g = guard(session, actor_id, Capability.CHECKIN_MANAGE, Scope.event(found.event_id))
    before = checkpoint_view(found)
    updated = update_checkpoint(session, found, changes)
    g.audit(
        "checkpoint.updated", "checkpoint", found.id, before=before, after=checkpoint_view(updated)
    )
    return updated
