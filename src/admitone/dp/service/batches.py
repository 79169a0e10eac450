"""DP batches, the organizer's side: upload a CSV of names and photos (with a zip of the
photos, or https:// URLs), follow its progress, cancel it, download the results.

`create_batch` is an action: the CSV and the zip are read with `core.uploads` (a file that is
unusable as a whole is a 422 with a stable code; a bad line becomes a failed row with its
line number), the zip is stored, and one mutation records the batch, its rows and the first
render job (`batch_render`). The workers render the rows; the organizer polls
`batch_progress` or streams it (topic `batch_render.topic`), and downloads the rendered pictures
once the batch has finished (`completed`, or `cancelled` with what was rendered before).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import record_audit
from admitone.core.clock import utcnow
from admitone.core.db import Database, publish
from admitone.core.files import File
from admitone.core.ids import DpBatchId, DpCampaignId, DpTemplateId, FileId, UserId
from admitone.core.pagination import Keyset, SortKey
from admitone.core.uploads import BatchCsv, PhotoZip, is_url, read_batch_csv
from admitone.dp import errors
from admitone.dp.models import (
    BatchRowStatus,
    BatchStatus,
    DpBatch,
    DpBatchRow,
    DpTemplate,
    TemplateStatus,
)
from admitone.dp.service.batch_render import schedule_lane, topic, zip_limits
from admitone.dp.service.rules import guard_campaign
from admitone.integrations.storage import Storage, StorageError
from admitone.settings import DpSettings

log = logging.getLogger(__name__)

# The errors a progress answer lists (the first ones by line); the counts are exact.
MAX_LISTED_ERRORS = 1000

NEWEST = Keyset(
    SortKey(DpBatch.created_at.expression, datetime, descending=True),
    SortKey(DpBatch.id.expression, str, descending=True),
)


# --- create ----------------------------------------------------------------------------------


def check_batch_target(
    session: Session, user_id: UserId, campaign_id: DpCampaignId, template_id: DpTemplateId
) -> None:
    """`dp.manage` on the campaign (`dp_campaign_not_found` for a stranger) and a live
    template of it (`dp_template_not_found`)."""
    guard_campaign(session, user_id, campaign_id)
    live = session.scalar(
        select(DpTemplate.id).where(
            DpTemplate.id == template_id,
            DpTemplate.campaign_id == campaign_id,
            DpTemplate.status == TemplateStatus.ACTIVE,
        )
    )
    if live is None:
        raise errors.TemplateNotFound()


def create_batch(
    db: Database,
    storage: Storage,
    settings: DpSettings,
    *,
    user_id: UserId,
    campaign_id: DpCampaignId,
    template_id: DpTemplateId,
    csv_data: bytes,
    zip_data: bytes | None,
) -> Progress:
    """Reads the upload, stores the zip and records the batch (module docstring); returns
    its progress (every row pending, or failed by the CSV reader). Raises
    `invalid_csv`, `too_many_rows`, `empty_batch`, `invalid_zip`, `unsafe_zip_member`,
    `too_many_files`, `zip_too_large` (422); `storage_unavailable` (503)."""
    db.query(check_batch_target, user_id, campaign_id, template_id)
    parsed = read_batch_csv(csv_data, max_rows=settings.batch_max_rows)
    if parsed.total == 0:
        raise errors.EmptyBatch()
    batch_id = DpBatchId.new()
    photos: File | None = None
    if zip_data is not None:
        # Refuses a zip that is unusable as a whole now (traversal, links, bombs declared
        # in its headers); a member that lies about its size fails its row when read.
        PhotoZip(
            zip_data, [r.photo for r in parsed.rows if not is_url(r.photo)], zip_limits(settings)
        )
        photos = File(
            id=FileId.new(),
            storage_key=f"dp/batches/{campaign_id}/{batch_id}/photos.zip",
            content_type="application/zip",
            size_bytes=len(zip_data),
            sha256=hashlib.sha256(zip_data).hexdigest(),
            owner_user_id=user_id,
        )
        try:
            storage.put(photos.storage_key, zip_data, photos.content_type)
        except StorageError as exc:
            log.exception("the photos of batch %s could not be stored", batch_id)
            raise errors.StorageUnavailable() from exc
    try:
        db.mutation(record_batch, user_id, batch_id, campaign_id, template_id, parsed, photos)
    except BaseException:
        if photos is not None:
            try:
                storage.delete(photos.storage_key)  # never recorded, so nothing refers to it
            except StorageError:
                log.warning("could not delete %s", photos.storage_key)
        raise
    return db.query(progress, batch_id)


def record_batch(
    session: Session,
    user_id: UserId,
    batch_id: DpBatchId,
    campaign_id: DpCampaignId,
    template_id: DpTemplateId,
    parsed: BatchCsv,
    photos: File | None,
) -> DpBatch:
    """The batch, a row per CSV line (lines the CSV reader refused are failed already, with
    their reason) and the first render job; audited `dp_batch.created`."""
    check_batch_target(session, user_id, campaign_id, template_id)
    campaign, _ = guard_campaign(session, user_id, campaign_id)
    if photos is not None:
        session.add(photos)
        session.flush()
    batch = DpBatch(
        id=batch_id,
        organization_id=campaign.organization_id,
        campaign_id=campaign_id,
        template_id=template_id,
        created_by_user_id=user_id,
        photos_file_id=photos.id if photos else None,
        status=BatchStatus.RUNNING,
        total=parsed.total,
    )
    session.add(batch)
    session.flush()
    values: list[dict[str, object]] = [
        {
            "batch_id": batch_id,
            "line": r.line,
            "name": r.name,
            "title": r.title,
            "photo": r.photo,
            "status": BatchRowStatus.PENDING,
            "claims": 0,
        }
        for r in parsed.rows
    ]
    values += [
        {
            "batch_id": batch_id,
            "line": e.line,
            "name": "",
            "title": "",
            "photo": "",
            "status": BatchRowStatus.FAILED,
            "claims": 0,
            "error": e.reason,
            "detail": e.detail[:300],
        }
        for e in parsed.errors
    ]
    for start in range(0, len(values), 1000):
        session.execute(insert(DpBatchRow), values[start : start + 1000])
    if parsed.rows:
        schedule_lane(session, batch_id, 1)
    else:  # every line was refused: nothing to render
        batch.status = BatchStatus.COMPLETED
        batch.finished_at = utcnow()
    record_audit(
        session,
        actor_user_id=user_id,
        action="dp_batch.created",
        target_type="dp_batch",
        target_id=batch_id,
        organization_id=campaign.organization_id,
        after={
            "campaign_id": campaign_id,
            "template_id": template_id,
            "total": parsed.total,
            "refused_lines": len(parsed.errors),
            "photos": "zip" if photos else "urls",
        },
    )
    return batch


# --- read, follow, cancel -----------------------------------------------------------------


def guard_batch(session: Session, user_id: UserId, batch_id: DpBatchId) -> DpBatch:
    """The batch, if the caller holds `dp.manage` on its campaign; else
    `dp_batch_not_found` (also for a stranger) or 403 `capability_required`."""
    campaign_id = session.scalar(select(DpBatch.campaign_id).where(DpBatch.id == batch_id))
    if campaign_id is None:
        raise errors.BatchNotFound()
    try:
        guard_campaign(session, user_id, campaign_id, Capability.DP_MANAGE)
    except errors.CampaignNotFound as exc:
        raise errors.BatchNotFound() from exc
    batch = session.get(DpBatch, batch_id, populate_existing=True)
    assert batch is not None
    return batch


@dataclass(frozen=True)
class RowFailure:
    line: int
    reason: str
    detail: str


@dataclass(frozen=True)
class Progress:
    batch: DpBatch
    counts: dict[BatchRowStatus, int]
    errors: list[RowFailure] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.batch.status != BatchStatus.RUNNING


def progress(session: Session, batch_id: DpBatchId) -> Progress:
    """The batch with its rows counted by status and its first failures by line (no
    access check: callers have checked it)."""
    batch = session.get(DpBatch, batch_id, populate_existing=True)
    if batch is None:
        raise errors.BatchNotFound()
    counts = {s: 0 for s in BatchRowStatus}
    for status, n in session.execute(
        select(DpBatchRow.status, func.count())
        .where(DpBatchRow.batch_id == batch_id)
        .group_by(DpBatchRow.status)
    ):
        counts[BatchRowStatus(status)] = int(n)
    failures = [
        RowFailure(line, error or "render_failed", detail or "")
        for line, error, detail in session.execute(
            select(DpBatchRow.line, DpBatchRow.error, DpBatchRow.detail)
            .where(DpBatchRow.batch_id == batch_id, DpBatchRow.status == BatchRowStatus.FAILED)
            .order_by(DpBatchRow.line)
            .limit(MAX_LISTED_ERRORS)
        )
    ]
    return Progress(batch, counts, failures)


def counts_by_batch(
    session: Session, batch_ids: list[DpBatchId]
) -> dict[DpBatchId, dict[BatchRowStatus, int]]:
    """Rows by status for each batch, in one query."""
    counts: dict[DpBatchId, dict[BatchRowStatus, int]] = {
        b: {s: 0 for s in BatchRowStatus} for b in batch_ids
    }
    if batch_ids:
        for batch_id, status, n in session.execute(
            select(DpBatchRow.batch_id, DpBatchRow.status, func.count())
            .where(DpBatchRow.batch_id.in_(batch_ids))
            .group_by(DpBatchRow.batch_id, DpBatchRow.status)
        ):
            counts[batch_id][BatchRowStatus(status)] = int(n)
    return counts


def list_batches(
    session: Session, user_id: UserId, campaign_id: DpCampaignId, *, limit: int, cursor: str | None
) -> tuple[list[Progress], str | None]:
    """The campaign's batches, newest first, with their rows counted by status (no row
    errors: a batch's own answer lists them); `dp.manage`."""
    guard_campaign(session, user_id, campaign_id, Capability.DP_MANAGE)
    query = select(DpBatch).where(DpBatch.campaign_id == campaign_id)
    batches, next_cursor = NEWEST.page(session, query, limit=limit, cursor=cursor)
    counts = counts_by_batch(session, [b.id for b in batches])
    return [Progress(b, counts[b.id]) for b in batches], next_cursor


def batch_progress(session: Session, user_id: UserId, batch_id: DpBatchId) -> Progress:
    guard_batch(session, user_id, batch_id)
    return progress(session, batch_id)


def cancel_batch(session: Session, user_id: UserId, batch_id: DpBatchId) -> Progress:
    """Stops a running batch: its pending rows become `cancelled` and are never claimed;
    rows being rendered finish. `dp_batch_not_running` once finished; audited
    `dp_batch.cancelled`."""
    batch = guard_batch(session, user_id, batch_id)
    now = utcnow()
    stopped = session.execute(
        update(DpBatch)
        .where(DpBatch.id == batch_id, DpBatch.status == BatchStatus.RUNNING)
        .values(status=BatchStatus.CANCELLED, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(stopped, "rowcount", 0) != 1:
        raise errors.BatchNotRunning()
    cancelled = session.execute(
        update(DpBatchRow)
        .where(DpBatchRow.batch_id == batch_id, DpBatchRow.status == BatchRowStatus.PENDING)
        .values(status=BatchRowStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    publish(session, topic(batch_id))
    record_audit(
        session,
        actor_user_id=user_id,
        action="dp_batch.cancelled",
        target_type="dp_batch",
        target_id=batch_id,
        organization_id=batch.organization_id,
        before={"status": BatchStatus.RUNNING},
        after={
            "status": BatchStatus.CANCELLED,
            "rows_cancelled": getattr(cancelled, "rowcount", 0),
        },
    )
    return progress(session, batch_id)


@dataclass(frozen=True)
class Output:
    line: int
    name: str
    storage_key: str
    content_type: str
    size_bytes: int


@dataclass(frozen=True)
class Outputs:
    batch_id: DpBatchId
    finished_at: datetime | None
    items: list[Output]


def batch_outputs(session: Session, user_id: UserId, batch_id: DpBatchId) -> Outputs:
    """The rendered pictures of a finished batch, in line order; `dp_batch_not_finished`
    while it runs, `dp_batch_purged` (410) once its retention has ended."""
    batch = guard_batch(session, user_id, batch_id)
    if batch.status == BatchStatus.RUNNING:
        raise errors.BatchNotFinished()
    if batch.purged_at is not None:
        raise errors.BatchPurged()
    rows = session.execute(
        select(
            DpBatchRow.line, DpBatchRow.name, File.storage_key, File.content_type, File.size_bytes
        )
        .join(File, File.id == DpBatchRow.output_file_id)
        .where(DpBatchRow.batch_id == batch_id, DpBatchRow.status == BatchRowStatus.DONE)
        .order_by(DpBatchRow.line)
    )
    return Outputs(batch_id, batch.finished_at, [Output(*row) for row in rows])
