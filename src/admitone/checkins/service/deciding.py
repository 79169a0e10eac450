"""The door's rules: admit, refuse, or answer a repeat (re-entry, offline conflicts), and
the answer's shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from admitone.checkins.models import CheckIn, CheckInScan
from admitone.checkins.service.loading import (
    _INSERT_CHECK_IN,
    _admits_session,
    _identify,
    _passages,
)
from admitone.checkins.service.model import (
    MESSAGES,
    PAID_ORDER_STATUSES,
    ScanInput,
    _Cp,
    _Found,
    _iso,
    _Outcome,
    checkins_topic,
)
from admitone.core.clock import utcnow
from admitone.core.db import publish
from admitone.core.ids import CheckInId


def _first_entry(rows: Sequence[Any]) -> Any:
    return next((r for r in rows if r.undone_at is None and r.direction == "in"), None)


def _admit(
    session: Session,
    *,
    event_id: str,
    checkpoint: _Cp,
    found: _Found,
    rows: list[Any],
    scan: ScanInput,
    at: datetime,
    user_id: str | None,
) -> _Outcome:
    effective = [r for r in rows if r.undone_at is None]
    if checkpoint.allows_reentry:
        direction = "out" if effective and effective[-1].direction == "in" else "in"
    else:
        first = _first_entry(effective)
        if first is not None:
            return _repeat(session, checkpoint, found, scan, at, first)
        direction = "in"
    new_id = CheckInId.new()
    inserted = _INSERT_CHECK_IN[session.connection().dialect.name].rows(
        session,
        {
            "id": new_id,
            "event_id": event_id,
            "pass_id": found.pass_id,
            "checkpoint_id": checkpoint.id,
            "sequence": (rows[-1].sequence + 1) if rows else 1,
            "direction": direction,
            "scanned_at": at,
            "device_id": scan.device_id,
            "scan_id": scan.scan_id,
            "scanned_by_user_id": user_id,
            "is_offline": scan.is_offline,
            "created_at": utcnow(),
        },
    )
    if not inserted:
        # Another device took this sequence number a moment ago: the person is in. Losing
        # the insert must not lose the rule "earliest scan wins": an offline scan made
        # before the winner's takes its place, exactly as if it had arrived second.
        # Only passages that stand count (an undo may land meanwhile).
        standing = [
            r for r in _passages(session, found.pass_id, checkpoint.id) if r.undone_at is None
        ]
        first = _first_entry(standing)
        if first is not None and not checkpoint.allows_reentry:
            return _repeat(session, checkpoint, found, scan, at, first)
        winner = first or (standing[-1] if standing else None)
        return _Outcome("already_checked_in", found, first=winner)
    publish(session, checkins_topic(event_id))
    return _Outcome("accepted", found, direction=direction, check_in_id=new_id)


def _repeat(
    session: Session,
    checkpoint: _Cp,
    found: _Found,
    scan: ScanInput,
    at: datetime,
    first: Any,
) -> _Outcome:
    """A pass already admitted here. An offline scan that happened earlier than the recorded
    entry takes its place (earliest scan wins); the later one becomes the conflict."""
    if not scan.is_offline or at >= first.scanned_at:
        flags = ["conflict"] if scan.is_offline else []
        return _Outcome("already_checked_in", found, first=first, flags=flags)
    moved = session.execute(
        update(CheckIn)
        .where(CheckIn.id == first.id, CheckIn.scanned_at > at, CheckIn.undone_at.is_(None))
        .values(scanned_at=at, device_id=scan.device_id, scan_id=scan.scan_id, is_offline=True)
        .returning(CheckIn.id),
        execution_options={"synchronize_session": False},
    ).scalar()
    if moved is None:  # a concurrent earlier scan won
        latest = _first_entry(_passages(session, found.pass_id, checkpoint.id))
        return _Outcome("already_checked_in", found, first=latest, flags=["conflict"])
    session.execute(
        update(CheckInScan)
        .where(CheckInScan.check_in_id == first.id, CheckInScan.result == "accepted")
        .values(needs_review=True, flags=["superseded_by_earlier_offline_scan"]),
        execution_options={"synchronize_session": False},
    )
    publish(session, checkins_topic(checkpoint.event_id))
    return _Outcome(
        "accepted",
        found,
        direction="in",
        check_in_id=first.id,
        flags=["conflict"],
        superseded={"scanned_at": _iso(first.scanned_at), "device_id": first.device_id},
    )


def _decide(
    session: Session,
    secret: bytes,
    *,
    event_id: str,
    scan: ScanInput,
    at: datetime,
    user_id: str | None,
) -> tuple[_Outcome, _Cp]:
    refusal, found, checkpoint, rows = _identify(session, secret, event_id, scan)
    if refusal is not None or found is None:
        return _Outcome(refusal or "invalid_code"), checkpoint
    return _judge(
        session,
        event_id=event_id,
        checkpoint=checkpoint,
        found=found,
        rows=rows,
        scan=scan,
        at=at,
        user_id=user_id,
    ), checkpoint


def _judge(
    session: Session,
    *,
    event_id: str,
    checkpoint: _Cp,
    found: _Found,
    rows: list[Any],
    scan: ScanInput,
    at: datetime,
    user_id: str | None,
) -> _Outcome:
    flags: list[str] = []
    if found.status == "revoked":
        # An offline scan made before the revocation did let the person in: keep it.
        if not (scan.is_offline and found.revoked_at is not None and found.revoked_at > at):
            return _Outcome("revoked", found)
        flags.append("revoked_since_scan")
    if found.order_status not in PAID_ORDER_STATUSES:
        return _Outcome("unpaid", found)
    if checkpoint.tier_ids is not None and found.tier_id not in checkpoint.tier_ids:
        return _Outcome("not_allowed_here", found)
    if checkpoint.session_id is not None and not _admits_session(
        session, found.tier_id, checkpoint.session_id
    ):
        return _Outcome("not_allowed_here", found)
    if (checkpoint.opens_at is not None and at < checkpoint.opens_at) or (
        checkpoint.closes_at is not None and at >= checkpoint.closes_at
    ):
        return _Outcome("outside_window", found)
    outcome = _admit(
        session,
        event_id=event_id,
        checkpoint=checkpoint,
        found=found,
        rows=rows,
        scan=scan,
        at=at,
        user_id=user_id,
    )
    outcome.flags = flags + outcome.flags
    return outcome


def _response(outcome: _Outcome, checkpoint: _Cp, scan: ScanInput, at: datetime) -> dict[str, Any]:
    found = outcome.found
    first = outcome.first
    return {
        "result": outcome.result,
        "message": MESSAGES[outcome.result],
        "scan_id": scan.scan_id,
        "checkpoint_id": checkpoint.id,
        "scanned_at": _iso(at),
        "direction": outcome.direction,
        "check_in_id": outcome.check_in_id,
        "pass": None
        if found is None
        else {
            "id": found.pass_id,
            "code": found.code,
            "tier_id": found.tier_id,
            "tier_name": found.tier_name,
            "status": found.status,
        },
        "attendee": None
        if found is None
        else {"name": found.attendee_name, "email": found.attendee_email},
        "first_checked_in_at": _iso(first.scanned_at) if first is not None else None,
        "first_device_id": first.device_id if first is not None else None,
        "flags": outcome.flags,
        "superseded": outcome.superseded,
    }
