"""DP batch routes (`dp.manage`): upload a CSV (with a zip of photos or photo URLs), follow
the batch (polling or SSE), cancel it, download the rendered pictures as a streamed zip."""

from __future__ import annotations

import logging
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse

from admitone.auth.deps import CurrentUser
from admitone.core.http import Db, Page, Paging, app_settings, upload_limit
from admitone.core.ids import DpBatchId, DpCampaignId, DpTemplateId
from admitone.core.images import read_limited
from admitone.core.realtime import stream_query
from admitone.dp.models import BatchRowStatus, BatchStatus
from admitone.dp.service import batch_render, batches
from admitone.dp.views import CampaignPath, base_url, storage_of
from admitone.integrations.storage import Storage, StorageError
from admitone.settings import Settings

log = logging.getLogger(__name__)

api_router = APIRouter(tags=["dp"])

BatchPath = Annotated[DpBatchId, Path(description="A DP batch id (`dpb_...`).")]


class RowErrorOut(BaseModel):
    line: int = Field(description="The CSV line (the header is line 1).")
    reason: str = Field(description="A stable code: `photo_not_in_zip`, `text_blocked`, ...")
    detail: str


class BatchOut(BaseModel):
    id: DpBatchId
    campaign_id: DpCampaignId
    template_id: DpTemplateId
    status: BatchStatus
    total: int
    done: int
    failed: int
    pending: int = Field(description="Rows not rendered yet (pending or being rendered).")
    cancelled: int
    errors: list[RowErrorOut] = Field(
        description=f"Failed rows by line (the first {batches.MAX_LISTED_ERRORS})."
    )
    download_url: str | None = Field(
        description="The zip of the pictures, once finished (none once purged)."
    )
    created_at: datetime
    finished_at: datetime | None
    purged_at: datetime | None = Field(
        description="When its files (photos, pictures) were deleted after the retention."
    )


def batch_out(settings: Settings, p: batches.Progress) -> BatchOut:
    b, c = p.batch, p.counts
    return BatchOut(
        id=b.id,
        campaign_id=b.campaign_id,
        template_id=b.template_id,
        status=b.status,
        total=b.total,
        done=c[BatchRowStatus.DONE],
        failed=c[BatchRowStatus.FAILED],
        pending=c[BatchRowStatus.PENDING] + c[BatchRowStatus.RENDERING],
        cancelled=c[BatchRowStatus.CANCELLED],
        errors=[RowErrorOut(line=e.line, reason=e.reason, detail=e.detail) for e in p.errors],
        download_url=f"{base_url(settings)}/api/v1/dp-batches/{b.id}/download"
        if p.finished and b.purged_at is None
        else None,
        created_at=b.created_at,
        finished_at=b.finished_at,
        purged_at=b.purged_at,
    )


_TEXT = {
    401: "Not signed in (`unauthorized`).",
    403: "The role lacks `dp.manage` (`capability_required`).",
    404: "No such campaign, template or batch, or not visible to the caller.",
    409: "The batch's state refuses it (`dp_batch_not_finished`, `dp_batch_not_running`).",
    410: "The batch's files were deleted after its retention (`dp_batch_purged`).",
    413: "A file is over its limit (`file_too_large`).",
    422: "The CSV or the zip cannot be used as a whole (`invalid_csv`, `too_many_rows`, "
    "`empty_batch`, `invalid_zip`, `unsafe_zip_member`, `too_many_files`, `zip_too_large`).",
    503: "The file store failed (`storage_unavailable`); try again.",
}


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"description": _TEXT[c]} for c in codes}


@api_router.post(
    "/dp-campaigns/{campaign_id}/batches",
    status_code=202,
    response_model=BatchOut,
    responses=_responses(401, 403, 404, 413, 422, 503),
)
@upload_limit(lambda s: s.dp.batch_max_csv_bytes + s.dp.batch_max_zip_bytes)
def create_batch(
    request: Request,
    db: Db,
    actor: CurrentUser,
    campaign_id: CampaignPath,
    csv: Annotated[UploadFile, File(description="UTF-8 CSV with the columns name,title,photo.")],
    template_id: Annotated[DpTemplateId, Form()],
    photos: Annotated[
        UploadFile | None,
        File(description="A zip of the photos the CSV names (none: the CSV holds https URLs)."),
    ] = None,
) -> BatchOut:
    """Checks the upload (a file unusable as a whole is refused; a bad line becomes a failed
    row with its line number) and queues the rendering; follow it at the batch's URL."""
    settings = app_settings(request)
    csv_data = read_limited(csv.file, settings.dp.batch_max_csv_bytes)
    zip_data = read_limited(photos.file, settings.dp.batch_max_zip_bytes) if photos else None
    created = batches.create_batch(
        db,
        storage_of(request),
        settings.dp,
        user_id=actor.user_id,
        campaign_id=campaign_id,
        template_id=template_id,
        csv_data=csv_data,
        zip_data=zip_data,
    )
    return batch_out(settings, created)


@api_router.get(
    "/dp-campaigns/{campaign_id}/batches",
    response_model=Page[BatchOut],
    responses=_responses(401, 403, 404),
)
def list_batches(
    request: Request, db: Db, actor: CurrentUser, campaign_id: CampaignPath, paging: Paging
) -> Page[BatchOut]:
    """The campaign's batches, newest first, with their progress (row errors: in each
    batch's own answer)."""
    settings = app_settings(request)
    rows, next_cursor = db.query(
        batches.list_batches, actor.user_id, campaign_id, limit=paging.limit, cursor=paging.cursor
    )
    return Page(items=[batch_out(settings, p) for p in rows], next_cursor=next_cursor)


@api_router.get(
    "/dp-batches/{batch_id}", response_model=BatchOut, responses=_responses(401, 403, 404)
)
def get_batch(request: Request, db: Db, actor: CurrentUser, batch_id: BatchPath) -> BatchOut:
    """The batch's progress: rows done, failed (with line and reason) and left."""
    return batch_out(
        app_settings(request), db.query(batches.batch_progress, actor.user_id, batch_id)
    )


@api_router.get(
    "/dp-batches/{batch_id}/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **_responses(401, 403, 404)},
)
def stream_batch(
    request: Request, db: Db, actor: CurrentUser, batch_id: BatchPath
) -> EventSourceResponse:
    """Server-sent `update` events carrying the batch (as `GET /dp-batches/{id}`), now and
    whenever a chunk of rows is recorded."""
    db.query(batches.guard_batch, actor.user_id, batch_id)
    settings = app_settings(request)

    def fetch() -> dict[str, Any]:
        return batch_out(settings, db.query(batches.progress, batch_id)).model_dump(mode="json")

    return stream_query(
        request.app.state.broker,
        [batch_render.topic(batch_id)],
        fetch,
        is_disconnected=request.is_disconnected,
    )


@api_router.post(
    "/dp-batches/{batch_id}/cancel",
    response_model=BatchOut,
    responses=_responses(401, 403, 404, 409),
)
def cancel_batch(request: Request, db: Db, actor: CurrentUser, batch_id: BatchPath) -> BatchOut:
    """Stops the batch: rows not started are never rendered; what was rendered stays
    downloadable."""
    return batch_out(
        app_settings(request), db.mutation(batches.cancel_batch, actor.user_id, batch_id)
    )


@api_router.get(
    "/dp-batches/{batch_id}/download",
    response_class=StreamingResponse,
    responses={
        200: {"description": "A zip of the pictures.", "content": {"application/zip": {}}},
        **_responses(401, 403, 404, 409, 410),
    },
)
def download_batch(
    request: Request, db: Db, actor: CurrentUser, batch_id: BatchPath
) -> StreamingResponse:
    """The rendered pictures as one zip (`0002-ada-obi.jpg`: the CSV line and the name),
    streamed: never held whole in memory."""
    outputs = db.query(batches.batch_outputs, actor.user_id, batch_id)
    return StreamingResponse(
        zip_stream(storage_of(request), outputs.items, outputs.finished_at),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{batch_id}.zip"',
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- the streamed zip ---------------------------------------------------------------------------


class _Sink:
    """A write-only file for `zipfile` (no `tell`/`seek`: it then writes data descriptors)
    whose bytes are taken out as they come."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def member_name(output: batches.Output) -> str:
    ascii_name = unicodedata.normalize("NFKD", output.name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60] or "dp"
    extension = "png" if output.content_type == "image/png" else "jpg"
    return f"{output.line:04d}-{slug}.{extension}"


def zip_stream(
    storage: Storage, outputs: list[batches.Output], when: datetime | None = None
) -> Iterator[bytes]:
    """The zip, one stored blob at a time (pictures are already compressed: stored, not
    deflated). A blob that cannot be read ends the stream (the client sees a broken zip)
    and is logged; its absence cannot be announced once the answer has started."""
    sink = _Sink()
    stamp = (
        (when.year, when.month, when.day, when.hour, when.minute, when.second)
        if when
        else (1980, 1, 1, 0, 0, 0)
    )
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as archive:
        for output in outputs:
            info = zipfile.ZipInfo(member_name(output), date_time=stamp)
            info.file_size = output.size_bytes
            try:
                chunks = storage.stream(output.storage_key)
                with archive.open(info, "w") as member:
                    for chunk in chunks:
                        member.write(chunk)
                        if sum(len(p) for p in sink.parts) >= 256 * 1024:
                            yield sink.take()
            except StorageError:
                log.exception("batch picture %s could not be read", output.storage_key)
                raise
            yield sink.take()
    yield sink.take()
