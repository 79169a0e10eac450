"""Event jobs: the `events.end_past` cron that ends published events once they are over."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from admitone.core.jobs import JobContext, cron, job
from admitone.events import service


@job("events.end_past")
def end_past(ctx: JobContext, /, **_: Any) -> None:
    # One conditional UPDATE: safe to run twice or from two workers at once.
    ctx.db.mutation(service.end_past_events)


cron("events.end_past", every=timedelta(minutes=5))
