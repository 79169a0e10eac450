"""API shapes of checkpoints, scans, sync, stats, the door list and the offline bundle."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from admitone.checkins.models import Direction, ScanResult
from admitone.core.ids import (
    CheckInId,
    CheckInScanId,
    CheckpointId,
    EventId,
    EventSessionId,
    PassId,
    TicketTierId,
)


class CheckpointIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    tier_ids: list[TicketTierId] | None = Field(
        default=None, max_length=200, description="Tiers admitted here; null: every tier."
    )
    session_id: EventSessionId | None = None
    opens_at: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None
    allows_reentry: bool = False


class CheckpointPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    tier_ids: list[TicketTierId] | None = Field(default=None, max_length=200)
    session_id: EventSessionId | None = None
    opens_at: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None
    allows_reentry: bool | None = None


class CheckpointOut(BaseModel):
    id: CheckpointId
    event_id: EventId
    name: str
    is_default: bool
    tier_ids: list[TicketTierId] | None
    session_id: EventSessionId | None
    opens_at: datetime | None
    closes_at: datetime | None
    allows_reentry: bool


class ScanIn(BaseModel):
    code: str = Field(
        min_length=1, max_length=300, description="A pass's QR payload or its short code."
    )
    checkpoint_id: CheckpointId | None = Field(
        default=None, description="Default: the event's default checkpoint."
    )
    device_id: str | None = Field(default=None, max_length=100)
    scan_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Client-chosen id of this scan; a retry with it gets the same answer.",
    )


class PassBrief(BaseModel):
    id: PassId
    code: str
    tier_id: TicketTierId
    tier_name: str
    status: str


class Attendee(BaseModel):
    name: str | None
    email: str | None


class SupersededScan(BaseModel):
    scanned_at: datetime
    device_id: str | None


class ScanOut(BaseModel):
    result: ScanResult
    message: str
    scan_id: str | None
    checkpoint_id: CheckpointId
    scanned_at: datetime
    direction: Direction | None = Field(
        description="For an accepted scan: an entry, or an exit at a re-entry checkpoint."
    )
    check_in_id: CheckInId | None
    pass_: PassBrief | None = Field(alias="pass")
    attendee: Attendee | None
    first_checked_in_at: datetime | None = Field(
        description="On a repeat: when the pass was first admitted here."
    )
    first_device_id: str | None
    flags: list[str]
    superseded: SupersededScan | None = Field(
        description="An offline scan earlier than the recorded entry took its place: that entry."
    )
    replayed: bool = Field(default=False, description="The stored answer to a repeated scan_id.")

    model_config = {"populate_by_name": True}


class OfflineScan(BaseModel):
    code: str = Field(min_length=1, max_length=300)
    scanned_at: AwareDatetime = Field(description="The device's time of the scan.")
    nonce: str = Field(
        min_length=1, max_length=100, description="Unique per scan; syncing twice is harmless."
    )
    checkpoint_id: CheckpointId | None = None


class SyncIn(BaseModel):
    device_id: str | None = Field(default=None, max_length=100)
    checkpoint_id: CheckpointId | None = None
    scans: list[OfflineScan] = Field(min_length=1, max_length=1000)


class SyncOut(BaseModel):
    results: list[ScanOut]


class TierStats(BaseModel):
    tier_id: TicketTierId
    name: str
    checked_in: int
    expected: int


class CheckpointStats(BaseModel):
    checkpoint_id: CheckpointId
    name: str
    checked_in: int
    inside: int | None = Field(description="Where exits are scanned: people inside now.")


class StatsOut(BaseModel):
    event_id: EventId
    checked_in: int
    expected: int
    by_tier: list[TierStats]
    by_checkpoint: list[CheckpointStats]


class DoorListItem(BaseModel):
    pass_id: PassId
    code: str
    tier_id: TicketTierId
    tier_name: str
    attendee_name: str | None
    attendee_email: str | None
    buyer_email: str
    status: str
    checked_in_at: datetime | None


class BundleKey(BaseModel):
    algorithm: Literal["Ed25519"]
    public_key: str = Field(description="Raw 32-byte public key, base64url without padding.")
    qr_prefix: str


class BundlePass(BaseModel):
    id: PassId
    code: str
    tier_id: TicketTierId
    attendee_name: str | None
    status: Literal["valid", "revoked", "unpaid"]


class BundleCheckIn(BaseModel):
    id: CheckInId
    pass_id: PassId
    checkpoint_id: CheckpointId
    sequence: int
    direction: Direction
    scanned_at: datetime
    is_undone: bool


class OfflineBundle(BaseModel):
    event_id: EventId
    version: str = Field(description="Pass it back as `since` to get only what changed.")
    since: str | None
    is_delta: bool
    key: BundleKey
    checkpoints: list[CheckpointOut]
    passes: list[BundlePass]
    check_ins: list[BundleCheckIn]


class ScanLogItem(BaseModel):
    id: CheckInScanId
    result: ScanResult
    pass_id: PassId | None
    checkpoint_id: CheckpointId | None
    check_in_id: CheckInId | None
    device_id: str | None
    scan_id: str | None
    scanned_at: datetime
    is_offline: bool
    needs_review: bool
    flags: list[str]
    created_at: datetime


class UndoOut(BaseModel):
    check_in_id: CheckInId
    pass_id: PassId
    checkpoint_id: CheckpointId
    undone_at: datetime
