"""Event jobs: the `events.end_past` cron that ends published events once they are over, and
`events.delete_blob`, which deletes a released cover's blob after its row is gone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from admitone.core.jobs import JobContext, cron, job
from admitone.events import service
from admitone.integrations.storage import storage_for


@job("events.end_past")
def end_past(ctx: JobContext, /, **_: Any) -> None:
    # One conditional UPDATE: safe to run twice or from two workers at once.
    ctx.db.mutation(service.end_past_events)


cron("events.end_past", every=timedelta(minutes=5))


@job(service.DELETE_BLOB_JOB)
def delete_blob(ctx: JobContext, /, **args: Any) -> None:
    # Scheduled in the transaction that deleted the file's row, so it runs only after that
    # commit. Keys embed a file id that is never reused; deleting twice is a no-op.
    storage_for(ctx.settings).delete(str(args["storage_key"]))
