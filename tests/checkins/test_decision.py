"""The decision at the service, row by row: what a scan writes (the check-in, the scan log),
an insert race lost to another device (played deterministically: the rival's row lands
between the read and the insert, as it does under PostgreSQL in test_concurrency.py), the
edges of the rules, and offline batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from admitone.checkins.models import CheckIn, CheckInScan
from admitone.checkins.service import deciding, scanning
from admitone.checkins.service.checkpoints import CheckpointSpec, create_checkpoint
from admitone.checkins.service.model import MAX_CLOCK_AHEAD, ScanInput
from admitone.checkins.service.undo import undo_check_in
from admitone.core.ids import CheckInId
from admitone.passes import service as passes
from admitone.passes.service import pass_qr
from tests.checkins.conftest import Door

T0 = datetime.fromisoformat("2026-12-07T20:00:00+00:00")


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(T0, tick=False):
        yield


@pytest.fixture
def published(door: Door, monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The realtime topics each committed scan marked changed (the door's live stats)."""
    topics: list[set[str]] = []
    monkeypatch.setattr(door.db, "publisher", lambda changed: topics.append(set(changed)))
    return topics


def _scan(door: Door, scan: ScanInput) -> dict[str, Any]:
    return door.db.mutation(scanning.scan, door.settings.secret, door.staff_id, door.event.id, scan)


def _sync(door: Door, scans: list[ScanInput]) -> list[dict[str, Any]]:
    done = door.db.mutation(
        scanning.sync, door.settings.secret, door.staff_id, door.event.id, scans
    )
    return list(done["results"])


def _rows(door: Door, model: type, **where: object) -> list[Any]:
    def read(session: Session) -> list[Any]:
        # Passages in their order; time is frozen in these tests, so created_at ties.
        order = [model.sequence] if model is CheckIn else [model.created_at, model.id]
        stmt = select(model).order_by(*order)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return list(session.scalars(stmt))

    return door.db.query(read)


def _checkpoint(door: Door, **spec: Any) -> str:
    made = door.db.mutation(create_checkpoint, door.event.id, CheckpointSpec(**spec))
    return str(made.id)


def _offline(code: str, at: datetime, nonce: str, device: str = "tablet-1") -> ScanInput:
    return ScanInput(code=code, device_id=device, scan_id=nonce, scanned_at=at, is_offline=True)


# --- what a scan writes ------------------------------------------------------------------


def test_offline_sync_of_a_qr_records_the_scanner_device_and_time(door: Door, frozen: None) -> None:
    p = door.passes[0]
    at = T0 - timedelta(minutes=2)
    [answer] = _sync(door, [_offline(pass_qr(door.settings, p), at, "n-1")])
    assert answer["result"] == "accepted"
    [row] = _rows(door, CheckIn, pass_id=p.id)
    assert (row.scanned_by_user_id, row.device_id, row.scan_id) == (
        door.staff_id,
        "tablet-1",
        "n-1",
    )
    assert (row.is_offline, row.direction, row.sequence) == (True, "in", 1)
    assert row.scanned_at.replace(tzinfo=at.tzinfo) == at
    assert row.id == answer["check_in_id"]
    [log] = _rows(door, CheckInScan, pass_id=p.id)
    assert (log.result, log.check_in_id, log.scan_id) == ("accepted", row.id, "n-1")
    assert (log.scanned_by_user_id, log.device_id, log.is_offline) == (
        door.staff_id,
        "tablet-1",
        True,
    )
    assert (log.needs_review, log.flags, log.response) == (False, [], answer)


# --- an insert race lost to another device -------------------------------------------------


def _meanwhile(
    monkeypatch: pytest.MonkeyPatch, act: Callable[[Session, Any, Any, list[Any]], None]
) -> None:
    """`act(session, pass, checkpoint, passages)` runs between this scan's read of the
    passages and its write, as another device's committed write would land there."""
    identify = deciding._identify

    def racing(session: Session, secret: bytes, event_id: str, scan: ScanInput) -> Any:
        refusal, found, cp, rows = identify(session, secret, event_id, scan)
        if found is not None:
            act(session, found, cp, rows)
            session.flush()
        return refusal, found, cp, rows

    monkeypatch.setattr(deciding, "_identify", racing)


def _rival_gets_in_first(
    monkeypatch: pytest.MonkeyPatch, *, at: datetime, direction: str = "in"
) -> None:
    """Another device's check-in of the same pass, at the same checkpoint and sequence."""

    def rival(session: Session, found: Any, cp: Any, rows: list[Any]) -> None:
        session.add(_passage(found, cp, rows, at=at, direction=direction))

    _meanwhile(monkeypatch, rival)


def _passage(
    found: Any,
    cp: Any,
    rows: list[Any],
    *,
    at: datetime,
    direction: str = "in",
    device: str = "rival",
    after: int = 1,
    undone_at: datetime | None = None,
) -> CheckIn:
    """Another device's passage of the pass at the checkpoint, `after` past the last read."""
    return CheckIn(
        id=CheckInId.new(),
        event_id=cp.event_id,
        pass_id=found.pass_id,
        checkpoint_id=cp.id,
        sequence=(rows[-1].sequence if rows else 0) + after,
        direction=direction,
        scanned_at=at,
        device_id=device,
        is_offline=False,
        undone_at=undone_at,
    )


def test_online_scan_losing_the_insert_race_is_already_checked_in(
    door: Door, frozen: None, monkeypatch: pytest.MonkeyPatch, published: list[set[str]]
) -> None:
    p = door.passes[0]
    _rival_gets_in_first(monkeypatch, at=T0 - timedelta(seconds=1))
    answer = _scan(door, ScanInput(code=p.code, device_id="gate-1"))
    assert answer["result"] == "already_checked_in"
    assert (answer["first_device_id"], answer["flags"]) == ("rival", [])
    assert answer["first_checked_in_at"] == "2026-12-07T19:59:59Z"
    assert (answer["pass"]["id"], answer["attendee"]["name"]) == (p.id, "Guest 00")
    assert (answer["check_in_id"], answer["direction"]) == (None, None)
    [row] = _rows(door, CheckIn, pass_id=p.id)
    assert row.device_id == "rival"
    [log] = _rows(door, CheckInScan, pass_id=p.id)
    assert (log.result, log.check_in_id, log.needs_review) == ("already_checked_in", None, False)
    assert published == []  # nothing changed at the door


def test_offline_scan_earlier_than_the_rival_that_won_the_race_takes_its_place(
    door: Door, frozen: None, monkeypatch: pytest.MonkeyPatch, published: list[set[str]]
) -> None:
    p = door.passes[0]
    _rival_gets_in_first(monkeypatch, at=T0 - timedelta(minutes=1))
    earlier = T0 - timedelta(minutes=5)
    [answer] = _sync(door, [_offline(p.code, earlier, "n-1")])
    assert answer["result"] == "accepted"
    assert answer["flags"] == ["conflict"]
    assert answer["superseded"] == {"scanned_at": "2026-12-07T19:59:00Z", "device_id": "rival"}
    assert (answer["direction"], answer["pass"]["id"]) == ("in", p.id)
    assert published == [{f"event:{door.event.id}:checkins"}]
    [row] = _rows(door, CheckIn, pass_id=p.id)
    assert (row.id, row.device_id, row.scan_id, row.is_offline) == (
        answer["check_in_id"],
        "tablet-1",
        "n-1",
        True,
    )
    assert row.scanned_at.replace(tzinfo=earlier.tzinfo) == earlier


def test_offline_scan_later_than_the_rival_that_won_the_race_is_a_conflict(
    door: Door, frozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = door.passes[0]
    _rival_gets_in_first(monkeypatch, at=T0 - timedelta(minutes=5))
    [answer] = _sync(door, [_offline(p.code, T0 - timedelta(minutes=1), "n-1")])
    assert (answer["result"], answer["flags"]) == ("already_checked_in", ["conflict"])
    assert answer["first_device_id"] == "rival"
    [row] = _rows(door, CheckIn, pass_id=p.id)
    assert (row.device_id, row.scan_id) == ("rival", None)
    [log] = _rows(door, CheckInScan, pass_id=p.id)
    assert (log.needs_review, log.flags) == (True, ["conflict"])


@pytest.mark.parametrize("direction", ["in", "out"])
def test_reentry_scan_losing_the_race_names_the_rivals_passage(
    door: Door, frozen: None, monkeypatch: pytest.MonkeyPatch, direction: str
) -> None:
    p = door.passes[0]
    hall = _checkpoint(door, name="Hall", allows_reentry=True)
    if direction == "out":  # the pass is inside: the rival lets it out
        first = _scan(door, ScanInput(code=p.code, checkpoint_id=hall, device_id="gate-0"))
        assert first["direction"] == "in"
    _rival_gets_in_first(monkeypatch, at=T0, direction=direction)
    answer = _scan(door, ScanInput(code=p.code, checkpoint_id=hall, device_id="gate-1"))
    assert (answer["result"], answer["flags"]) == ("already_checked_in", [])
    # The entry that admitted the pass: the rival's when it let the pass in, else the first.
    assert answer["first_device_id"] == ("rival" if direction == "in" else "gate-0")
    assert answer["first_checked_in_at"] == "2026-12-07T20:00:00Z"
    assert len(_rows(door, CheckIn, pass_id=p.id, checkpoint_id=hall)) == (
        1 if direction == "in" else 2
    )


# --- the edges of the rules ----------------------------------------------------------------


def test_window_opens_at_its_opening_and_is_closed_at_its_closing(door: Door, frozen: None) -> None:
    opens_now = _checkpoint(door, name="Opens", opens_at=T0, closes_at=T0 + timedelta(hours=1))
    closes_now = _checkpoint(door, name="Closes", opens_at=T0 - timedelta(hours=1), closes_at=T0)
    code = door.passes[0].code
    assert _scan(door, ScanInput(code=code, checkpoint_id=opens_now))["result"] == "accepted"
    closed = _scan(door, ScanInput(code=code, checkpoint_id=closes_now))
    assert closed["result"] == "outside_window"
    assert (closed["pass"]["id"], closed["check_in_id"]) == (door.passes[0].id, None)
    assert _rows(door, CheckIn, checkpoint_id=closes_now) == []


def test_offline_scan_at_the_instant_of_revocation_is_revoked(door: Door, frozen: None) -> None:
    p, q = door.passes[0], door.passes[1]
    with door.db.session() as session:
        passes.revoke_passes(session, order_id=p.order_id, reason="refund")
        passes.revoke_passes(session, order_id=q.order_id, reason="refund")
    answers = _sync(
        door,
        [
            _offline(p.code, T0, "at"),
            _offline(q.code, T0 - timedelta(microseconds=1), "before"),
        ],
    )
    assert [(a["result"], a["flags"]) for a in answers] == [
        ("revoked", []),
        ("accepted", ["revoked_since_scan"]),
    ]
    assert [r.pass_id for r in _rows(door, CheckIn)] == [q.id]


def test_offline_scan_before_a_revocation_and_before_the_entry_keeps_both_flags(
    door: Door, frozen: None
) -> None:
    p = door.passes[0]
    entry = _scan(door, ScanInput(code=p.code, device_id="gate-1"))
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        with door.db.session() as session:
            passes.revoke_passes(session, order_id=p.order_id, reason="refund")
        [answer] = _sync(door, [_offline(p.code, T0 - timedelta(minutes=1), "n-1")])
    assert answer["result"] == "accepted"
    assert answer["flags"] == ["revoked_since_scan", "conflict"]
    assert answer["check_in_id"] == entry["check_in_id"]
    assert answer["superseded"] == {"scanned_at": "2026-12-07T20:00:00Z", "device_id": "gate-1"}


def test_device_clock_up_to_five_minutes_ahead_is_believed(door: Door, frozen: None) -> None:
    ahead, too_far = T0 + MAX_CLOCK_AHEAD, T0 + MAX_CLOCK_AHEAD + timedelta(microseconds=1)
    answers = _sync(
        door,
        [_offline(door.passes[0].code, ahead, "a"), _offline(door.passes[1].code, too_far, "b")],
    )
    assert [(a["scanned_at"], a["flags"]) for a in answers] == [
        ("2026-12-07T20:05:00Z", []),
        ("2026-12-07T20:00:00Z", ["device_clock_ahead"]),
    ]


# --- offline batches ----------------------------------------------------------------------


def test_a_batch_scan_without_a_device_time_counts_as_scanned_now(door: Door, frozen: None) -> None:
    code = door.passes[0].code
    answers = door.db.mutation(
        scanning.sync_scans,
        door.settings.secret,
        event_id=door.event.id,
        scans=[
            ScanInput(code=code, scan_id="now", is_offline=True),
            _offline(code, T0 - timedelta(minutes=1), "earlier"),
        ],
        user_id=door.staff_id,
    )
    # Applied earliest first: the earlier scan admits, the one made now is the conflict.
    assert [(a["scan_id"], a["result"], a["flags"]) for a in answers] == [
        ("now", "already_checked_in", ["conflict"]),
        ("earlier", "accepted", []),
    ]
    assert answers[0]["first_checked_in_at"] == "2026-12-07T19:59:00Z"


@pytest.mark.parametrize("earliest", [T0 - timedelta(minutes=10), T0 - timedelta(minutes=5)])
def test_offline_scan_beaten_by_an_earlier_one_synced_meanwhile_is_the_conflict(
    door: Door, frozen: None, monkeypatch: pytest.MonkeyPatch, earliest: datetime
) -> None:
    """The other tablet's scan was earlier, or made at the same instant (a tie keeps the
    entry already recorded)."""
    p = door.passes[0]
    entry = _scan(door, ScanInput(code=p.code, device_id="gate-1"))

    def other_tablet_moves_the_entry(
        session: Session, found: Any, cp: Any, rows: list[Any]
    ) -> None:
        session.execute(
            update(CheckIn)
            .where(CheckIn.id == rows[0].id)
            .values(scanned_at=earliest, device_id="tablet-2", is_offline=True)
        )

    _meanwhile(monkeypatch, other_tablet_moves_the_entry)
    [answer] = _sync(door, [_offline(p.code, T0 - timedelta(minutes=5), "n-1")])
    assert (answer["result"], answer["flags"]) == ("already_checked_in", ["conflict"])
    assert (answer["pass"]["id"], answer["attendee"]["name"]) == (p.id, "Guest 00")
    assert answer["first_device_id"] == "tablet-2"
    assert answer["first_checked_in_at"] == earliest.isoformat().replace("+00:00", "Z")
    assert (answer["check_in_id"], answer["superseded"]) == (None, None)
    [row] = _rows(door, CheckIn, pass_id=p.id)
    assert (row.id, row.device_id, row.scan_id) == (entry["check_in_id"], "tablet-2", None)
    # The online scan's log row is not marked superseded by the scan that lost.
    logs = {log.scan_id: log for log in _rows(door, CheckInScan, pass_id=p.id)}
    assert (logs[None].needs_review, logs[None].flags) == (False, [])
    assert (logs["n-1"].needs_review, logs["n-1"].result) == (True, "already_checked_in")


def test_online_scan_before_an_offline_entry_stamped_ahead_does_not_take_its_place(
    door: Door, frozen: None
) -> None:
    p = door.passes[0]
    ahead = T0 + timedelta(minutes=3)  # a tablet's clock within the tolerated lead
    [entry] = _sync(door, [_offline(p.code, ahead, "n-1")])
    answer = _scan(door, ScanInput(code=p.code, device_id="gate-1"))
    assert (answer["result"], answer["flags"], answer["superseded"]) == (
        "already_checked_in",
        [],
        None,
    )
    assert (answer["first_device_id"], answer["first_checked_in_at"]) == (
        "tablet-1",
        "2026-12-07T20:03:00Z",
    )
    [row] = _rows(door, CheckIn, pass_id=p.id)
    assert (row.id, row.device_id, row.scan_id, row.is_offline) == (
        entry["check_in_id"],
        "tablet-1",
        "n-1",
        True,
    )


def test_taking_the_entrys_place_moves_that_entry_only_and_flags_its_scan(
    door: Door, frozen: None
) -> None:
    p, bystander = door.passes[0], door.passes[1]
    with time_machine.travel(T0 - timedelta(minutes=1), tick=False):
        entry = _scan(door, ScanInput(code=p.code, device_id="gate-1"))
    _scan(door, ScanInput(code=bystander.code, device_id="gate-2"))
    [answer] = _sync(door, [_offline(p.code, T0 - timedelta(minutes=5), "n-1")])
    assert (answer["result"], answer["check_in_id"]) == ("accepted", entry["check_in_id"])
    [other] = _rows(door, CheckIn, pass_id=bystander.id)
    assert (other.device_id, other.scan_id, other.is_offline) == ("gate-2", None, False)
    assert other.scanned_at.replace(tzinfo=T0.tzinfo) == T0
    [other_log] = _rows(door, CheckInScan, pass_id=bystander.id)
    assert (other_log.needs_review, other_log.flags) == (False, [])
    logs = {log.scan_id: log for log in _rows(door, CheckInScan, pass_id=p.id)}
    assert (logs[None].needs_review, logs[None].flags) == (
        True,
        ["superseded_by_earlier_offline_scan"],
    )
    assert (logs["n-1"].needs_review, logs["n-1"].flags) == (True, ["conflict"])


def test_offline_scan_of_an_entry_undone_meanwhile_does_not_rewrite_the_undone_row(
    door: Door, frozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = door.passes[0]
    entry = _scan(door, ScanInput(code=p.code, device_id="gate-1"))

    def staff_undoes_it(session: Session, found: Any, cp: Any, rows: list[Any]) -> None:
        undo_check_in(session, event_id=door.event.id, check_in_id=rows[0].id)

    _meanwhile(monkeypatch, staff_undoes_it)
    [answer] = _sync(door, [_offline(p.code, T0 - timedelta(minutes=5), "n-1")])
    # As if the sync came first and the undo after it: the pass is not in, and the scan is
    # flagged for review.
    assert (answer["result"], answer["flags"], answer["superseded"]) == (
        "already_checked_in",
        ["conflict"],
        None,
    )
    # No entry admits the pass any more: the answer names none (not the undone one).
    assert (answer["first_device_id"], answer["first_checked_in_at"]) == (None, None)
    [row] = _rows(door, CheckIn, pass_id=p.id)
    assert (row.id, row.device_id, row.scan_id) == (entry["check_in_id"], "gate-1", None)
    assert row.undone_at is not None
    assert row.scanned_at.replace(tzinfo=T0.tzinfo) == T0


def test_passages_are_numbered_one_by_one_and_an_undone_entry_lets_the_pass_in_again(
    door: Door, frozen: None
) -> None:
    p = door.passes[0]
    hall = _checkpoint(door, name="Hall", allows_reentry=True)
    for _ in range(3):
        assert _scan(door, ScanInput(code=p.code, checkpoint_id=hall))["result"] == "accepted"
    assert [(r.sequence, r.direction) for r in _rows(door, CheckIn, checkpoint_id=hall)] == [
        (1, "in"),
        (2, "out"),
        (3, "in"),
    ]
    first = _scan(door, ScanInput(code=p.code, device_id="gate-1"))
    door.db.mutation(undo_check_in, event_id=door.event.id, check_in_id=str(first["check_in_id"]))
    again = _scan(door, ScanInput(code=p.code, device_id="gate-2"))
    assert (again["result"], again["direction"]) == ("accepted", "in")
    rows = _rows(door, CheckIn, pass_id=p.id, checkpoint_id=first["checkpoint_id"])
    assert [(r.sequence, r.device_id, r.undone_at is None) for r in rows] == [
        (1, "gate-1", False),
        (2, "gate-2", True),
    ]


def test_offline_scan_losing_the_race_at_a_reentry_checkpoint_moves_no_passage(
    door: Door, frozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a pass may come and go, passages are not reordered by time: the earliest-scan
    rule is for one-entry checkpoints."""
    p = door.passes[0]
    hall = _checkpoint(door, name="Hall", allows_reentry=True)
    _rival_gets_in_first(monkeypatch, at=T0)
    scan = _offline(p.code, T0 - timedelta(minutes=5), "n-1")
    [answer] = _sync(door, [ScanInput(**{**vars(scan), "checkpoint_id": hall})])
    assert (answer["result"], answer["first_device_id"], answer["superseded"]) == (
        "already_checked_in",
        "rival",
        None,
    )
    [row] = _rows(door, CheckIn, pass_id=p.id, checkpoint_id=hall)
    assert (row.device_id, row.scan_id) == ("rival", None)


def test_a_lost_race_whose_winner_was_undone_meanwhile_names_no_undone_passage(
    door: Door, frozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two entries undone, then a rival's entry lands (and is undone) between this scan's
    read and its insert: the answer names the pass and no passage, as the repeat path does
    when no entry admits the pass any more."""
    p = door.passes[0]
    for gate in ("gate-0", "gate-1"):
        entry = _scan(door, ScanInput(code=p.code, device_id=gate))
        door.db.mutation(
            lambda s, cid=entry["check_in_id"]: undo_check_in(
                s, event_id=door.event.id, check_in_id=cid
            )
        )

    def rival_in_and_undone(session: Session, found: Any, cp: Any, rows: list[Any]) -> None:
        session.add(_passage(found, cp, rows, at=T0, undone_at=T0))

    _meanwhile(monkeypatch, rival_in_and_undone)
    answer = _scan(door, ScanInput(code=p.code, device_id="gate-2"))
    assert answer["result"] == "already_checked_in"
    assert (answer["first_device_id"], answer["first_checked_in_at"]) == (None, None)
    assert (answer["pass"]["id"], answer["attendee"]["name"]) == (p.id, "Guest 00")
    assert [r.device_id for r in _rows(door, CheckIn, pass_id=p.id)] == [
        "gate-0",
        "gate-1",
        "rival",
    ]


def test_a_lost_race_at_a_reentry_checkpoint_names_the_latest_standing_passage(
    door: Door, frozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When no entry stands but passages do (rivals' exits written after an undone entry),
    the answer names the latest standing passage."""
    p = door.passes[0]
    hall = _checkpoint(door, name="Hall", allows_reentry=True)
    for gate in ("gate-0", "gate-1"):
        entry = _scan(door, ScanInput(code=p.code, checkpoint_id=hall, device_id=gate))
        assert entry["direction"] == ("in" if gate == "gate-0" else "out")
    first_entry = _rows(door, CheckIn, pass_id=p.id, checkpoint_id=hall)[0]
    door.db.mutation(lambda s: undo_check_in(s, event_id=door.event.id, check_in_id=first_entry.id))

    def two_rivals_out(session: Session, found: Any, cp: Any, rows: list[Any]) -> None:
        for n, device in enumerate(("rival", "rival-2"), start=1):
            session.add(_passage(found, cp, rows, at=T0, direction="out", device=device, after=n))

    _meanwhile(monkeypatch, two_rivals_out)
    answer = _scan(door, ScanInput(code=p.code, checkpoint_id=hall, device_id="gate-2"))
    assert answer["result"] == "already_checked_in"
    assert answer["first_device_id"] == "rival-2"
    assert answer["pass"]["id"] == p.id
