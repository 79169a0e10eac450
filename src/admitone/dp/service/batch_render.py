"""DP batches, the workers' side: rows claimed in chunks, rendered outside any transaction,
recorded in one mutation per chunk.

A batch is rendered by *lanes*: job `dp.batch.render` with `{batch_id, lane}`. A lane claims
a chunk of rows (`pending`, or `rendering` with an expired lease) with one conditional
UPDATE (`FOR UPDATE SKIP LOCKED` on PostgreSQL, under `BEGIN IMMEDIATE` on SQLite), renders
them, records them, and claims again until none is left. The first claim of lane n that
leaves rows pending schedules lane n+1 (unique key per lane, at most
`batch_max_lanes`): its worker is busy rendering, so an idle worker takes it, and every
worker that runs joins the batch while rows remain. A row is recorded only by the lane that
holds its claim, so each row is rendered into the batch once. A row's failure (its photo,
its text, the URL) is recorded with its reason and the others go on; a lane whose store or
database fails gives its unrecorded rows back and is retried by the job queue.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from PIL import _imaging as pillow_core  # the image memory settings Pillow exposes
from sqlalchemy import ColumnElement, exists, insert, select, update
from sqlalchemy.orm import Session

from admitone.core import jobs
from admitone.core.clock import utcnow
from admitone.core.db import Database, publish
from admitone.core.errors import AppError
from admitone.core.files import File
from admitone.core.ids import DpBatchId, FileId
from admitone.core.uploads import PhotoError, PhotoZip, ZipLimits, is_url
from admitone.dp.models import (
    BatchRowStatus,
    BatchStatus,
    DpBatch,
    DpBatchRow,
    DpTemplate,
    Verdict,
)
from admitone.dp.render import Rendered, open_photo, render_dp
from admitone.dp.service import safety
from admitone.dp.service.templates import PREPARED
from admitone.integrations.fetch import FetchPolicy, fetch
from admitone.integrations.storage import Storage, StorageError
from admitone.settings import DpSettings, Settings

log = logging.getLogger(__name__)

LANE_JOB = "dp.batch.render"
_OPEN = (BatchRowStatus.PENDING, BatchRowStatus.RENDERING)

# Freed image blocks Pillow keeps for the next picture (at most one 16 MiB block each, in
# practice the 1-5 MiB of a decoded photo, a canvas or a copy). Without them a worker
# process handed every row's image memory back to the kernel and faulted it in again:
# ~2,900 minor page faults and ~7 ms of system CPU per row (docs/dp.md "Batches").
IMAGE_BLOCKS = 8


@cache
def keep_image_blocks() -> None:
    """Lets Pillow reuse freed image memory in this process (once; never lowers a larger
    setting, e.g. `PILLOW_BLOCKS_MAX`)."""
    if pillow_core.get_blocks_max() < IMAGE_BLOCKS:
        pillow_core.set_blocks_max(IMAGE_BLOCKS)


def topic(batch_id: str) -> str:
    """The realtime topic a batch's progress is published on."""
    return f"dp_batch:{batch_id}"


def zip_limits(settings: DpSettings) -> ZipLimits:
    """A batch zip's limits: a photo as large as a generate upload, all of them together
    `batch_max_unzipped_bytes` once uncompressed."""
    return ZipLimits(
        max_member_bytes=settings.max_upload_bytes,
        max_total_bytes=settings.batch_max_unzipped_bytes,
    )


def schedule_lane(session: Session, batch_id: DpBatchId, lane: int) -> None:
    jobs.schedule(
        session,
        LANE_JOB,
        {"batch_id": batch_id, "lane": lane},
        unique_key=f"{LANE_JOB}:{batch_id}:{lane}",
    )


@dataclass(frozen=True)
class ClaimedRow:
    line: int
    name: str
    title: str
    photo: str


@dataclass(frozen=True)
class LanePlan:
    batch_id: DpBatchId
    owner_user_id: str
    campaign_id: str
    template: DpTemplate
    frame_key: str
    photos_key: str | None
    photo_names: list[str]


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Rows a lane may claim: pending, or held by a lane whose lease has ended."""
    return (DpBatchRow.status == BatchRowStatus.PENDING) | (
        (DpBatchRow.status == BatchRowStatus.RENDERING) & (DpBatchRow.claimed_until < now)
    )


def plan_lane(session: Session, batch_id: DpBatchId) -> LanePlan | None:
    """What a lane needs, or None when the batch no longer runs or has no row left to
    claim (a lane that came too late does not load the zip for nothing)."""
    batch = session.get(DpBatch, batch_id)
    if batch is None or batch.status != BatchStatus.RUNNING:
        return None
    claimable = _claimable(utcnow())
    if not session.scalar(select(exists().where(DpBatchRow.batch_id == batch_id, claimable))):
        return None
    template = session.get(DpTemplate, batch.template_id)
    assert template is not None
    frame_key = session.scalar(select(File.storage_key).where(File.id == template.frame_file_id))
    photos_key = (
        session.scalar(select(File.storage_key).where(File.id == batch.photos_file_id))
        if batch.photos_file_id
        else None
    )
    names = session.scalars(
        select(DpBatchRow.photo).where(
            DpBatchRow.batch_id == batch_id, DpBatchRow.status.in_(_OPEN)
        )
    ).all()
    assert frame_key is not None
    return LanePlan(
        batch_id,
        batch.created_by_user_id,
        batch.campaign_id,
        template,
        frame_key,
        photos_key,
        [n for n in dict.fromkeys(names) if not is_url(n)],
    )


def claim_rows(
    session: Session,
    batch_id: DpBatchId,
    worker: str,
    *,
    limit: int,
    lease: timedelta,
    next_lane: int | None = None,
) -> list[ClaimedRow]:
    """Claims up to `limit` rows of a running batch for `worker`; with `next_lane`, schedules
    that lane when rows are left for it."""
    running = (
        session.scalar(select(DpBatch.status).where(DpBatch.id == batch_id)) == BatchStatus.RUNNING
    )
    if not running:
        return []
    now = utcnow()
    claimable = _claimable(now)
    due = (
        select(DpBatchRow.line)
        .where(DpBatchRow.batch_id == batch_id, claimable)
        .order_by(DpBatchRow.line)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    # Two statements, not `UPDATE ... WHERE line IN (SELECT ... LIMIT n FOR UPDATE SKIP
    # LOCKED)`: PostgreSQL may run such a subquery again per row, and each run skips the
    # rows the UPDATE already changed, so it would claim the whole batch.
    lines = list(session.scalars(due))
    if not lines:
        return []
    claimed = session.execute(
        update(DpBatchRow)
        .where(
            DpBatchRow.batch_id == batch_id,
            DpBatchRow.line.in_(lines),
            claimable,
        )
        .values(
            status=BatchRowStatus.RENDERING,
            claimed_by=worker,
            claimed_until=now + lease,
            claims=DpBatchRow.claims + 1,
        )
        .returning(DpBatchRow.line, DpBatchRow.name, DpBatchRow.title, DpBatchRow.photo)
        .execution_options(synchronize_session=False)
    ).all()
    rows = sorted((ClaimedRow(*r) for r in claimed), key=lambda r: r.line)
    if rows and next_lane is not None:
        left = session.scalar(
            select(
                exists().where(
                    DpBatchRow.batch_id == batch_id, DpBatchRow.status == BatchRowStatus.PENDING
                )
            )
        )
        if left:
            schedule_lane(session, batch_id, next_lane)
    return rows


@dataclass(frozen=True)
class RowResult:
    line: int
    output: File | None = None
    error: str | None = None
    detail: str = ""


def record_rows(
    session: Session, batch_id: DpBatchId, worker: str, results: list[RowResult]
) -> list[str]:
    """Records the chunk's outcomes for the rows `worker` still holds (three statements
    whatever the chunk's size), and completes the batch when no row is left open. Returns
    the storage keys of outputs it did not record (the claim was lost: another lane took
    the row after the lease ended)."""
    held = set(
        session.scalars(
            select(DpBatchRow.line)
            .where(
                DpBatchRow.batch_id == batch_id,
                DpBatchRow.line.in_([r.line for r in results]),
                DpBatchRow.claimed_by == worker,
                DpBatchRow.status == BatchRowStatus.RENDERING,
            )
            .with_for_update()
        )
    )
    now = utcnow()
    outputs = [r.output for r in results if r.output is not None and r.line in held]
    if outputs:
        session.execute(
            insert(File),
            [
                {
                    "id": o.id,
                    "storage_key": o.storage_key,
                    "content_type": o.content_type,
                    "size_bytes": o.size_bytes,
                    "sha256": o.sha256,
                    "owner_user_id": o.owner_user_id,
                    "created_at": now,
                }
                for o in outputs
            ],
        )
    changes = [
        {
            "batch_id": batch_id,
            "line": r.line,
            "status": BatchRowStatus.DONE if r.output else BatchRowStatus.FAILED,
            "output_file_id": r.output.id if r.output else None,
            "error": r.error,
            "detail": r.detail[:300] if r.error else None,
            "claimed_until": None,
        }
        for r in results
        if r.line in held
    ]
    if changes:
        session.execute(update(DpBatchRow), changes)  # by primary key, one executemany
    finish_if_done(session, batch_id)
    publish(session, topic(batch_id))
    return [r.output.storage_key for r in results if r.output and r.line not in held]


def release_rows(session: Session, batch_id: DpBatchId, worker: str, lines: list[int]) -> None:
    """Gives rows this worker claimed but did not record back to the others at once."""
    session.execute(
        update(DpBatchRow)
        .where(
            DpBatchRow.batch_id == batch_id,
            DpBatchRow.line.in_(lines),
            DpBatchRow.claimed_by == worker,
            DpBatchRow.status == BatchRowStatus.RENDERING,
        )
        .values(status=BatchRowStatus.PENDING, claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )


def finish_if_done(session: Session, batch_id: DpBatchId) -> None:
    """`running -> completed` once no row is pending or rendering (whichever lane gets
    there first; the condition makes it once)."""
    now = utcnow()
    open_rows = exists().where(DpBatchRow.batch_id == batch_id, DpBatchRow.status.in_(_OPEN))
    session.execute(
        update(DpBatch)
        .where(DpBatch.id == batch_id, DpBatch.status == BatchStatus.RUNNING, ~open_rows)
        .values(status=BatchStatus.COMPLETED, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )


# --- rendering one row (an action: no transaction open) ----------------------------------------


@dataclass
class Renderer:
    storage: Storage
    settings: Settings
    plan: LanePlan
    policy: FetchPolicy
    photos: PhotoZip | None = None

    def __post_init__(self) -> None:
        self.layout, self.frame = PREPARED.get(
            self.plan.template, lambda: self.storage.get(self.plan.frame_key)
        )
        self.keys = {t.key for t in self.layout.texts}
        self.checks = safety.checks_for(self.settings.moderation)

    def photo_bytes(self, row: ClaimedRow) -> bytes:
        if is_url(row.photo):
            return fetch(row.photo, self.policy).content
        if self.photos is None:
            raise PhotoError("photo_not_in_zip", "The batch has no zip of photos.")
        return self.photos.read(row.photo)

    def render(self, row: ClaimedRow) -> Rendered | RowResult:
        """The row's picture, or its failure (a `RowResult` with the reason): every
        failure of the photo, the URL or the text is the row's, never the lane's."""
        limits = self.settings.dp
        try:
            data = self.photo_bytes(row)
            image = open_photo(
                data,
                max_bytes=limits.max_upload_bytes,
                max_pixels=limits.max_photo_pixels,
                cover=self.layout.photo.size,
            )
            texts = {
                k: v for k, v in (("name", row.name), ("title", row.title)) if k in self.keys and v
            }
            decision = safety.decide(image, texts, self.checks)
            if decision.verdict == Verdict.BLOCK:
                code = "text_blocked" if decision.subject == "text" else "image_blocked"
                return RowResult(row.line, error=code, detail=", ".join(decision.reasons))
            return render_dp(self.frame, self.layout, image, texts)
        except PhotoError as exc:
            return RowResult(row.line, error=exc.reason, detail=exc.detail)
        except AppError as exc:
            return RowResult(row.line, error=exc.code, detail=str(exc.message))
        except Exception as exc:  # hostile input must fail its row, never the worker
            log.warning("batch %s line %d failed", self.plan.batch_id, row.line, exc_info=True)
            return RowResult(row.line, error="render_failed", detail=type(exc).__name__)

    def store(self, line: int, rendered: Rendered) -> RowResult:
        """Puts the picture in the file store (raises `StorageError`)."""
        folder = f"dp/batches/{self.plan.campaign_id}/{self.plan.batch_id}"
        key = f"{folder}/{line:06d}.{rendered.extension}"
        self.storage.put(key, rendered.data, rendered.content_type)
        output = File(
            id=FileId.new(),
            storage_key=key,
            content_type=rendered.content_type,
            size_bytes=len(rendered.data),
            sha256=hashlib.sha256(rendered.data).hexdigest(),
            owner_user_id=self.plan.owner_user_id,
        )
        return RowResult(line, output=output)


def render_lane(
    db: Database,
    storage: Storage,
    settings: Settings,
    batch_id: DpBatchId,
    lane: int,
    worker: str,
    *,
    policy: FetchPolicy | None = None,
) -> int:
    """Renders chunks of the batch until none is left to claim (module docstring); returns
    how many rows this lane rendered or failed.

    A second thread puts chunk k's pictures in the file store while this one renders
    chunk k+1 (the store's fsync waits on the disk and would leave the core idle); the
    database is used from this thread only. A chunk whose storing or recording fails gives
    its rows back and the lane raises (the job is retried)."""
    plan = db.query(plan_lane, batch_id)
    if plan is None:
        return 0
    keep_image_blocks()
    with contextlib.ExitStack() as stack:
        photos = None
        if plan.photos_key is not None:
            # Read member by member from the store's file: a lane never loads the whole zip
            # (up to the 200 MB upload limit) into memory.
            photos = PhotoZip(
                stack.enter_context(storage.open(plan.photos_key)),
                plan.photo_names,
                zip_limits(settings.dp),
            )
            stack.callback(photos.close)
        return _render_chunks(db, storage, settings, plan, lane, worker, policy, photos)


def _render_chunks(
    db: Database,
    storage: Storage,
    settings: Settings,
    plan: LanePlan,
    lane: int,
    worker: str,
    policy: FetchPolicy | None,
    photos: PhotoZip | None,
) -> int:
    batch_id = plan.batch_id
    renderer = Renderer(
        storage,
        settings,
        plan,
        policy or FetchPolicy.from_settings(settings, max_bytes=settings.dp.max_upload_bytes),
        photos,
    )
    limits = settings.dp
    lease = timedelta(seconds=limits.batch_lease_seconds)
    next_lane: int | None = lane + 1 if lane < limits.batch_max_lanes else None
    handled = 0

    def store(outcomes: list[tuple[int, Rendered | RowResult]]) -> list[RowResult]:
        results: list[RowResult] = []
        try:
            for line, outcome in outcomes:
                stored = (
                    outcome if isinstance(outcome, RowResult) else renderer.store(line, outcome)
                )
                results.append(stored)
        except BaseException:
            _forget_all(storage, results)
            raise
        return results

    def record(lines: list[int], storing: Future[list[RowResult]]) -> None:
        try:
            results = storing.result()
        except BaseException:
            db.mutation(release_rows, batch_id, worker, lines)
            raise
        try:
            orphans = db.mutation(record_rows, batch_id, worker, results)
        except BaseException:
            db.mutation(release_rows, batch_id, worker, lines)
            _forget_all(storage, results)
            raise
        for key in orphans:
            _forget(storage, key)

    with ThreadPoolExecutor(1, thread_name_prefix="dp-batch-store") as io:
        previous: tuple[list[int], Future[list[RowResult]]] | None = None
        try:
            while True:
                rows = db.mutation(
                    claim_rows, batch_id, worker, limit=limits.batch_chunk_rows, lease=lease,
                    next_lane=next_lane,
                )  # fmt: skip
                next_lane = None  # asked once per lane
                lines = [r.line for r in rows]
                try:
                    outcomes = [(row.line, renderer.render(row)) for row in rows]
                except BaseException:
                    db.mutation(release_rows, batch_id, worker, lines)
                    raise
                if previous is not None:
                    done, previous = previous, None
                    record(*done)
                if not rows:
                    break
                previous = (lines, io.submit(store, outcomes))
                handled += len(rows)
        finally:
            if previous is not None:  # an error above: give the stored chunk's rows back
                with contextlib.suppress(BaseException):
                    _forget_all(storage, previous[1].result())
                db.mutation(release_rows, batch_id, worker, previous[0])
    return handled


def _forget_all(storage: Storage, results: list[RowResult]) -> None:
    for r in results:
        if r.output is not None:
            _forget(storage, r.output.storage_key)


def _forget(storage: Storage, key: str) -> None:
    try:
        storage.delete(key)
    except StorageError:
        log.warning("could not delete %s", key)
