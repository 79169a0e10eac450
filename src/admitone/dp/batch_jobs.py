"""DP batch jobs: `dp.batch.render` renders a batch's rows as one lane (`batch_render`);
the hourly `dp.batch.purge` deletes finished batches' files after their retention
(`batch_purge`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from admitone.core.ids import DpBatchId
from admitone.core.jobs import JobContext, cron, job
from admitone.dp.service.batch_purge import PURGE_JOB, purge_batches
from admitone.dp.service.batch_render import LANE_JOB, render_lane
from admitone.integrations.storage import storage_for


@job(LANE_JOB)
def render_batch_lane(ctx: JobContext, /, **args: Any) -> None:
    # The claim is per attempt: a retried lane does not record a dead attempt's rows, it
    # claims them again once their lease has ended.
    worker = f"{ctx.job_id}:{ctx.attempt}"
    render_lane(
        ctx.db,
        storage_for(ctx.settings),
        ctx.settings,
        DpBatchId.parse(str(args["batch_id"])),
        int(args["lane"]),
        worker,
    )


@job(PURGE_JOB)
def purge_finished_batches(ctx: JobContext, /, **_: Any) -> None:
    purge_batches(ctx.db, storage_for(ctx.settings), ctx.settings.dp)


cron(PURGE_JOB, every=timedelta(hours=1))
