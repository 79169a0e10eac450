"""The hot path's reads: the pass, its tier and order, the checkpoint and the pass's
passages there, in one round trip (`DriverStatement`s compiled once per dialect)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from admitone.checkins.models import CheckIn, CheckInScan, Checkpoint
from admitone.checkins.service.checkpoints import (
    get_checkpoint,
)
from admitone.checkins.service.model import ScanInput, _Cp, _Found, _Passage
from admitone.core.db import DriverStatement
from admitone.events.models import TicketTier, ticket_tier_sessions
from admitone.orders.models import Order
from admitone.passes.codes import BadQr, looks_like_qr, normalize_code, verify_qr
from admitone.passes.models import Pass


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
