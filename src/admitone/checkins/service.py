"""Scanning a pass (exactly once), offline sync and undo; checkpoints are in checkpoints.py.

A scan is one short transaction: verify the code, read the pass with its order status,
then `INSERT ... ON CONFLICT DO NOTHING RETURNING` on `check_ins (pass_id, checkpoint_id,
sequence)`: a row back admits, none means another device admitted the pass first. Every
scan leaves a `check_in_scans` row holding the answer; a scan with a `scan_id` claims that
id first, so a retry (even a concurrent one) gets the stored answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from admitone.checkins.checkpoints import (  # re-exported: the service's public names
    CheckpointSpec,
    create_checkpoint,
    default_checkpoint,
    get_checkpoint,
    insert_for,
    list_checkpoints,
    update_checkpoint,
)
from admitone.checkins.errors import (
    CheckInAlreadyUndone,
    CheckInNotFound,
    ScanIdReused,
)
from admitone.checkins.models import CheckIn, CheckInScan, Checkpoint
from admitone.core.clock import utcnow
from admitone.core.db import DriverStatement, publish
from admitone.core.ids import CheckInId, CheckInScanId
from admitone.events.models import TicketTier, ticket_tier_sessions
from admitone.orders.models import Order
from admitone.passes.codes import BadQr, looks_like_qr, normalize_code, verify_qr
from admitone.passes.models import Pass

__all__ = [
    "CheckpointSpec",
    "ScanInput",
    "checkins_topic",
    "create_checkpoint",
    "default_checkpoint",
    "get_checkpoint",
    "list_checkpoints",
    "scan_pass",
    "sync_scans",
    "undo_check_in",
    "update_checkpoint",
]

PAID_ORDER_STATUSES = ("paid", "partially_refunded")
# An offline device whose clock runs ahead of ours by more than this gets our time instead.
MAX_CLOCK_AHEAD = timedelta(minutes=5)

MESSAGES = {
    "accepted": "Welcome in.",
    "already_checked_in": "This pass was already used here.",
    "invalid_code": "This is not a valid pass.",
    "revoked": "This pass was cancelled or refunded.",
    "wrong_event": "This pass is for another event.",
    "not_allowed_here": "This pass does not admit to this checkpoint.",
    "outside_window": "This checkpoint is not open now.",
    "unpaid": "This pass's order is not paid.",
}


def checkins_topic(event_id: str) -> str:
    return f"event:{event_id}:checkins"


def _iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with `Z`, as the API's Pydantic models write times."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- scanning ------------------------------------------------------------------------------


@dataclass
class ScanInput:
    code: str
    checkpoint_id: str | None = None
    device_id: str | None = None
    scan_id: str | None = None
    scanned_at: datetime | None = None  # offline scans: the device's time
    is_offline: bool = False


@dataclass
class _Found:
    pass_id: str
    code: str
    tier_id: str
    tier_name: str
    status: str
    revoked_at: datetime | None
    attendee_name: str | None
    attendee_email: str | None
    order_status: str


@dataclass(frozen=True)
class _Cp:
    """The checkpoint fields a scan needs."""

    id: str
    event_id: str
    tier_ids: Sequence[str] | None
    session_id: str | None
    opens_at: datetime | None
    closes_at: datetime | None
    allows_reentry: bool

    @classmethod
    def of(cls, c: Checkpoint) -> _Cp:
        return cls(
            c.id, c.event_id, c.tier_ids, c.session_id, c.opens_at, c.closes_at, c.allows_reentry
        )


@dataclass(frozen=True)
class _Passage:
    id: str
    sequence: int
    direction: str
    scanned_at: datetime
    device_id: str | None
    undone_at: datetime | None


@dataclass
class _Outcome:
    result: str
    found: _Found | None = None
    direction: str | None = None
    check_in_id: str | None = None
    first: Any = None  # the admitting check-in row on a repeat
    flags: list[str] = field(default_factory=list)
    superseded: dict[str, Any] | None = None


# The hot path reads the pass, its tier and order, the checkpoint and the pass's passages
# through it in one round trip. The hot statements are compiled once per dialect and run on
# the driver's cursor (core.db.DriverStatement).
def _load_statement(by_code: bool, by_checkpoint_id: bool) -> Any:
    cp_match = (
        (Checkpoint.id == bindparam("checkpoint_id"))
        & (Checkpoint.event_id == bindparam("event_id"))
        if by_checkpoint_id
        else (Checkpoint.event_id == bindparam("event_id")) & Checkpoint.is_default
    )
    return (
        select(
            Pass.id,
            Pass.event_id,
            Pass.code,
            Pass.tier_id,
            TicketTier.name.label("tier_name"),
            Pass.status,
            Pass.revoked_at,
            Pass.attendee_name,
            Pass.attendee_email,
            Order.status.label("order_status"),
            Checkpoint.id.label("cp_id"),
            Checkpoint.tier_ids,
            Checkpoint.session_id,
            Checkpoint.opens_at,
            Checkpoint.closes_at,
            Checkpoint.allows_reentry,
            CheckIn.id.label("ci_id"),
            CheckIn.sequence,
            CheckIn.direction,
            CheckIn.scanned_at,
            CheckIn.device_id,
            CheckIn.undone_at,
        )
        .join(TicketTier, TicketTier.id == Pass.tier_id)
        .join(Order, Order.id == Pass.order_id)
        .outerjoin(Checkpoint, cp_match)
        .outerjoin(CheckIn, (CheckIn.pass_id == Pass.id) & (CheckIn.checkpoint_id == Checkpoint.id))
        .where((Pass.code if by_code else Pass.id) == bindparam("key"))
        .order_by(CheckIn.sequence)
    )


_LOADS = {
    ("code" if by_code else "id", cp): DriverStatement(_load_statement(by_code, cp))
    for by_code in (True, False)
    for cp in (True, False)
}
_CHECK_INS = cast(Table, CheckIn.__table__)
_CHECK_IN_COLUMNS = (
    "id", "event_id", "pass_id", "checkpoint_id", "sequence", "direction", "scanned_at",
    "device_id", "scan_id", "scanned_by_user_id", "is_offline", "created_at",
)  # fmt: skip
_INSERT_CHECK_IN = {
    "postgresql": DriverStatement(
        pg_insert(_CHECK_INS).on_conflict_do_nothing().returning(_CHECK_INS.c.id),
        _CHECK_IN_COLUMNS,
    ),
    "sqlite": DriverStatement(
        sqlite_insert(_CHECK_INS).on_conflict_do_nothing().returning(_CHECK_INS.c.id),
        _CHECK_IN_COLUMNS,
    ),
}
_INSERT_SCAN = DriverStatement(
    cast(Table, CheckInScan.__table__).insert(),
    (
        "id", "event_id", "checkpoint_id", "pass_id", "check_in_id", "result", "scan_id",
        "device_id", "scanned_by_user_id", "scanned_at", "is_offline", "needs_review", "flags",
        "response", "created_at",
    ),
)  # fmt: skip


def _load(
    session: Session, *, event_id: str, checkpoint_id: str | None, by: str, key: str
) -> tuple[_Found | None, str | None, _Cp | None, list[_Passage]]:
    """(pass, its event id, checkpoint, passages), the checkpoint and passages None/empty
    when the checkpoint is not there (yet)."""
    params = {"event_id": event_id, "key": key}
    if checkpoint_id is not None:
        params["checkpoint_id"] = checkpoint_id
    rows = _LOADS[(by, checkpoint_id is not None)].rows(session, params)
    if not rows:
        return None, None, None, []
    r = rows[0]
    found = _Found(
        r.id,
        r.code,
        r.tier_id,
        r.tier_name,
        r.status,
        r.revoked_at,
        r.attendee_name,
        r.attendee_email,
        r.order_status,
    )
    cp = None
    if r.cp_id is not None:
        cp = _Cp(
            r.cp_id,
            event_id,
            r.tier_ids,
            r.session_id,
            r.opens_at,
            r.closes_at,
            bool(r.allows_reentry),
        )
    passages = [
        _Passage(x.ci_id, x.sequence, x.direction, x.scanned_at, x.device_id, x.undone_at)
        for x in rows
        if x.ci_id is not None
    ]
    return found, r.event_id, cp, passages


def _identify(
    session: Session, secret: bytes, event_id: str, scan: ScanInput
) -> tuple[str | None, _Found | None, _Cp, list[_Passage]]:
    """(refusal, pass, checkpoint, passages): `invalid_code` or `wrong_event`, or the pass
    of this event with its passages through the checkpoint."""
    if looks_like_qr(scan.code):
        try:
            claims = verify_qr(secret, scan.code)
        except BadQr:
            return "invalid_code", None, _checkpoint(session, event_id, scan), []
        if claims.event_id != event_id:
            return "wrong_event", None, _checkpoint(session, event_id, scan), []
        by, key, code = "id", str(claims.pass_id), claims.code
    else:
        normal = normalize_code(scan.code)
        if normal is None:
            return "invalid_code", None, _checkpoint(session, event_id, scan), []
        by, key, code = "code", normal, normal
    found, pass_event, cp, passages = _load(
        session, event_id=event_id, checkpoint_id=scan.checkpoint_id, by=by, key=key
    )
    if cp is None:  # no such checkpoint (404), or the default one is made on first use
        cp = _checkpoint(session, event_id, scan)
        if found is not None:
            passages = _passages(session, found.pass_id, cp.id)
    if found is None or found.code != code:
        return "invalid_code", None, cp, []
    if pass_event != event_id:
        return "wrong_event", None, cp, []
    return None, found, cp, passages


def _checkpoint(session: Session, event_id: str, scan: ScanInput) -> _Cp:
    return _Cp.of(get_checkpoint(session, event_id, scan.checkpoint_id))


def _admits_session(session: Session, tier_id: str, session_id: str) -> bool:
    """A tier with no session rows admits to every session of its event."""
    sessions = set(
        session.scalars(
            select(ticket_tier_sessions.c.session_id).where(
                ticket_tier_sessions.c.tier_id == tier_id
            )
        )
    )
    return not sessions or session_id in sessions


def _passages(session: Session, pass_id: str, checkpoint_id: str) -> list[Any]:
    return list(
        session.execute(
            select(
                CheckIn.id,
                CheckIn.sequence,
                CheckIn.direction,
                CheckIn.scanned_at,
                CheckIn.device_id,
                CheckIn.undone_at,
            )
            .where(CheckIn.pass_id == pass_id, CheckIn.checkpoint_id == checkpoint_id)
            .order_by(CheckIn.sequence)
        )
    )


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
        latest = _passages(session, found.pass_id, checkpoint.id)
        first = _first_entry([r for r in latest if r.undone_at is None])
        if first is not None and not checkpoint.allows_reentry:
            return _repeat(session, checkpoint, found, scan, at, first)
        return _Outcome(
            "already_checked_in", found, first=first or (latest[-1] if latest else None)
        )
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
