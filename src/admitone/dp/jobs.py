"""DP jobs: `dp.delete_blob` deletes a released DP image's or frame's blob after its row is
gone (scheduled by the mutation that released it); `dp.classify` runs the image classifier
on a new DP (scheduled by the mutation that recorded it; the classifier never runs in a
request)."""

from __future__ import annotations

from typing import Any

from admitone.core.ids import GeneratedDpId
from admitone.core.jobs import JobContext, job
from admitone.dp.service.review import classify_dp
from admitone.dp.service.rules import CLASSIFY_JOB, DELETE_BLOB_JOB
from admitone.integrations.storage import storage_for


@job(DELETE_BLOB_JOB)
def delete_blob(ctx: JobContext, /, **args: Any) -> None:
    # Keys embed an id that is never reused; deleting twice is a no-op.
    storage_for(ctx.settings).delete(str(args["storage_key"]))


@job(CLASSIFY_JOB, max_attempts=5)
def classify(ctx: JobContext, /, **args: Any) -> None:
    # A DP no longer pending is left alone: running twice is a no-op.
    classify_dp(
        ctx.db, storage_for(ctx.settings), ctx.settings.moderation, GeneratedDpId(args["dp_id"])
    )


# Batch rendering lives in its own module; importing it registers its job.
from admitone.dp import batch_jobs as _batch_jobs  # noqa: E402, F401
