"""DP batches' retention: a finished batch's files (its zip of photos and the rendered
pictures) are deleted `dp.batch_retention_days` after it finished (cron `dp.batch.purge`);
the batch, its rows and their outcomes stay, marked `purged_at`.

A purge is three steps, each safe to repeat: mark the batch purged (its download answers
410 `dp_batch_purged` from then on) and read its files' keys; delete the blobs; delete the
file rows and the references to them. A purge that stops half-way (a store that fails, a
worker that dies) is finished by the next run: a purged batch that still refers to a file is
due again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, exists, select, update
from sqlalchemy.orm import Session

from admitone.access.service import record_audit
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.files import File
from admitone.core.ids import DpBatchId, FileId
from admitone.dp.models import BatchStatus, DpBatch, DpBatchRow
from admitone.integrations.storage import Storage
from admitone.settings import DpSettings

log = logging.getLogger(__name__)

PURGE_JOB = "dp.batch.purge"
# Batches purged per run (the cron runs hourly; a backlog drains over a few runs).
PURGE_BATCHES_PER_RUN = 50
_DELETE_CHUNK = 500


def _holds_files() -> ColumnElement[bool]:
    return DpBatch.photos_file_id.is_not(None) | exists().where(
        DpBatchRow.batch_id == DpBatch.id, DpBatchRow.output_file_id.is_not(None)
    )


def due_batches(session: Session, cutoff: datetime, limit: int) -> list[DpBatchId]:
    """Finished before `cutoff` and not purged yet, or purged with files left (a purge
    that stopped half-way); oldest first."""
    return list(
        session.scalars(
            select(DpBatch.id)
            .where(
                DpBatch.status != BatchStatus.RUNNING,
                DpBatch.finished_at < cutoff,
                DpBatch.purged_at.is_(None) | _holds_files(),
            )
            .order_by(DpBatch.finished_at, DpBatch.id)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class BatchFiles:
    ids: list[FileId]
    keys: list[str]


def mark_purged(session: Session, batch_id: DpBatchId) -> BatchFiles:
    """Marks the batch purged (once; audited `dp_batch.purged`) and returns its files."""
    batch = session.get(DpBatch, batch_id, with_for_update=True)
    assert batch is not None
    if batch.purged_at is None:
        batch.purged_at = utcnow()
        record_audit(
            session,
            actor_user_id=None,
            action="dp_batch.purged",
            target_type="dp_batch",
            target_id=batch_id,
            organization_id=batch.organization_id,
            after={"finished_at": batch.finished_at.isoformat() if batch.finished_at else None},
        )
    output_ids = select(DpBatchRow.output_file_id).where(
        DpBatchRow.batch_id == batch_id, DpBatchRow.output_file_id.is_not(None)
    )
    rows = session.execute(
        select(File.id, File.storage_key).where(
            File.id.in_(output_ids) | (File.id == batch.photos_file_id)
        )
    ).all()
    return BatchFiles([r[0] for r in rows], [r[1] for r in rows])


def drop_files(session: Session, batch_id: DpBatchId, file_ids: list[FileId]) -> None:
    """Removes the references to the batch's files, then the file rows."""
    session.execute(
        update(DpBatchRow)
        .where(DpBatchRow.batch_id == batch_id, DpBatchRow.output_file_id.is_not(None))
        .values(output_file_id=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(DpBatch)
        .where(DpBatch.id == batch_id)
        .values(photos_file_id=None)
        .execution_options(synchronize_session=False)
    )
    for start in range(0, len(file_ids), _DELETE_CHUNK):
        chunk = file_ids[start : start + _DELETE_CHUNK]
        session.execute(
            delete(File).where(File.id.in_(chunk)).execution_options(synchronize_session=False)
        )


def purge_batch(db: Database, storage: Storage, batch_id: DpBatchId) -> int:
    """Purges one batch (module docstring); returns how many files it deleted. A store
    error raises (`StorageError`): the batch stays due and the next run finishes it."""
    files = db.mutation(mark_purged, batch_id)
    for key in files.keys:
        storage.delete(key)  # deleting twice is fine
    db.mutation(drop_files, batch_id, files.ids)
    return len(files.ids)


def purge_batches(
    db: Database, storage: Storage, settings: DpSettings, *, now: datetime | None = None
) -> int:
    """Purges the batches whose retention has ended; returns how many."""
    cutoff = (now or utcnow()) - timedelta(days=settings.batch_retention_days)
    due = db.query(due_batches, cutoff, PURGE_BATCHES_PER_RUN)
    for batch_id in due:
        deleted = purge_batch(db, storage, batch_id)
        log.info("batch %s purged: %d files deleted", batch_id, deleted)
    return len(due)
