"""Scanning a pass (exactly once) and offline sync: `scan` and `sync`, the use cases.

A scan is one short transaction: verify the code, read the pass with its order status,
then `INSERT ... ON CONFLICT DO NOTHING RETURNING` on `check_ins (pass_id, checkpoint_id,
sequence)`: a row back admits, none means another device admitted the pass first. Every
scan leaves a `check_in_scans` row holding the answer; a scan with a `scan_id` claims that
id first, so a retry (even a concurrent one) gets the stored answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import require_at_event
from admitone.checkins.errors import (
    ScanIdReused,
)
from admitone.checkins.models import CheckInScan, ScanResult
from admitone.checkins.service.deciding import _decide, _response
from admitone.checkins.service.loading import _INSERT_SCAN
from admitone.checkins.service.model import MAX_CLOCK_AHEAD, ScanInput
from admitone.core import outbox
from admitone.core.clock import utcnow
from admitone.core.db import insert_for
from admitone.core.ids import CheckInScanId, EventId, UserId
from admitone.orders.service import announce


def _claim_scan_id(
    session: Session, event_id: str, scan: ScanInput, at: datetime
) -> tuple[str, dict[str, Any] | None]:
    """Reserves `scan_id` with a placeholder row; returns (row id, None), or (id, the stored
    answer) when the scan_id was used before (a concurrent twin waits for the first to
    commit, then reads its answer)."""
    row_id = CheckInScanId.new()
    claimed = session.execute(
        insert_for(session, CheckInScan)
        .values(
            id=row_id,
            event_id=event_id,
            result="invalid_code",
            scan_id=scan.scan_id,
            scanned_at=at,
            is_offline=scan.is_offline,
            needs_review=False,
            flags=[],
            response={},
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["scan_id"])
        .returning(CheckInScan.id)
    ).scalar()
    if claimed is not None:
        return row_id, None
    prior = session.execute(
        select(CheckInScan.id, CheckInScan.event_id, CheckInScan.response).where(
            CheckInScan.scan_id == scan.scan_id
        )
    ).one()
    if prior.event_id != event_id:
        raise ScanIdReused()
    return prior.id, {**prior.response, "replayed": True}


def scan_pass(
    session: Session,
    secret: bytes,
    *,
    event_id: str,
    scan: ScanInput,
    user_id: str | None,
) -> dict[str, Any]:
    """Checks a pass in at a checkpoint and returns the answer for the door (always a
    result, never an error, for anything about the pass itself). Raises
    CheckpointNotFound for a checkpoint of another event and ScanIdReused for a scan_id
    used at another event."""
    now = utcnow()
    at = now
    device_flags: list[str] = []
    if scan.scanned_at is not None:
        at = scan.scanned_at
        if at > now + MAX_CLOCK_AHEAD:
            at = now
            device_flags.append("device_clock_ahead")
    log_id: str | None = None
    if scan.scan_id is not None:
        log_id, stored = _claim_scan_id(session, event_id, scan, at)
        if stored is not None:
            return stored
    outcome, checkpoint = _decide(
        session,
        secret,
        event_id=event_id,
        scan=scan,
        at=at,
        user_id=user_id,
    )
    outcome.flags = device_flags + outcome.flags
    response = _response(outcome, checkpoint, scan, at)
    values = {
        "checkpoint_id": checkpoint.id,
        "pass_id": outcome.found.pass_id if outcome.found else None,
        "check_in_id": outcome.check_in_id,
        "result": outcome.result,
        "device_id": scan.device_id,
        "scanned_by_user_id": user_id,
        "needs_review": bool(outcome.flags),
        "flags": outcome.flags,
        "response": response,
    }
    if log_id is not None:
        session.execute(
            update(CheckInScan).where(CheckInScan.id == log_id).values(**values),
            execution_options={"synchronize_session": False},
        )
    else:
        _INSERT_SCAN.rows(
            session,
            {
                **values,
                "id": CheckInScanId.new(),
                "event_id": event_id,
                "scan_id": None,
                "scanned_at": at,
                "is_offline": scan.is_offline,
                "created_at": now,
            },
        )
    # Integrators get the door's answer (a dict lookup when no endpoint wants it).
    outbox.emit_event(
        session,
        "checkin.accepted" if outcome.result == ScanResult.ACCEPTED else "checkin.refused",
        announce.organization_of(session, event_id),
        lambda: {**response, "event_id": event_id},
    )
    return response


def sync_scans(
    session: Session,
    secret: bytes,
    *,
    event_id: str,
    scans: Sequence[ScanInput],
    user_id: str | None,
) -> list[dict[str, Any]]:
    """Records a batch of offline scans, earliest first (so that within a batch the earliest
    scan of a pass wins), and returns one answer per scan in the order given."""
    order = sorted(range(len(scans)), key=lambda i: (scans[i].scanned_at or utcnow(), i))
    answers: dict[int, dict[str, Any]] = {}
    for i in order:
        answers[i] = scan_pass(session, secret, event_id=event_id, scan=scans[i], user_id=user_id)
    return [answers[i] for i in range(len(scans))]


# --- undo ----------------------------------------------------------------------------------


def scan(
    session: Session, secret: bytes, actor_id: UserId, event_id: EventId, scan: ScanInput
) -> dict[str, Any]:
    """The door scan (`checkin.scan`): the answer in the documented `ScanOut` shape."""
    require_at_event(session, actor_id, Capability.CHECKIN_SCAN, event_id)
    return scan_pass(session, secret, event_id=event_id, scan=scan, user_id=actor_id)


def sync(
    session: Session,
    secret: bytes,
    actor_id: UserId,
    event_id: EventId,
    scans: Sequence[ScanInput],
) -> dict[str, Any]:
    """Scans made offline (`checkin.scan`), one answer per scan in the order sent."""
    require_at_event(session, actor_id, Capability.CHECKIN_SCAN, event_id)
    return {
        "results": sync_scans(session, secret, event_id=event_id, scans=scans, user_id=actor_id)
    }
