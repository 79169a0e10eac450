"""What a scan reads and answers: its input, the rows it loads, its outcome and the
door's messages (shared by the scanning modules)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from admitone.checkins.models import Checkpoint, ScanResult

PAID_ORDER_STATUSES = ("paid", "partially_refunded")
# An offline device whose clock runs ahead of ours by more than this gets our time instead.
MAX_CLOCK_AHEAD = timedelta(minutes=5)

MESSAGES: dict[str, str] = {
    ScanResult.ACCEPTED: "Welcome in.",
    ScanResult.ALREADY_CHECKED_IN: "This pass was already used here.",
    ScanResult.INVALID_CODE: "This is not a valid pass.",
    ScanResult.REVOKED: "This pass was cancelled or refunded.",
    ScanResult.WRONG_EVENT: "This pass is for another event.",
    ScanResult.NOT_ALLOWED_HERE: "This pass does not admit to this checkpoint.",
    ScanResult.OUTSIDE_WINDOW: "This checkpoint is not open now.",
    ScanResult.UNPAID: "This pass's order is not paid.",
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
