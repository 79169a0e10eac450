"""DP jobs: `dp.delete_blob` deletes a released DP image's or frame's blob after its row is
gone (scheduled by the mutation that released it)."""

from __future__ import annotations

from typing import Any

from admitone.core.jobs import JobContext, job
from admitone.dp.service.rules import DELETE_BLOB_JOB
from admitone.integrations.storage import storage_for


@job(DELETE_BLOB_JOB)
def delete_blob(ctx: JobContext, /, **args: Any) -> None:
    # Keys embed an id that is never reused; deleting twice is a no-op.
    storage_for(ctx.settings).delete(str(args["storage_key"]))


# Batch rendering lives in its own module; importing it registers its job.
from admitone.dp import batch_jobs as _batch_jobs  # noqa: E402, F401
