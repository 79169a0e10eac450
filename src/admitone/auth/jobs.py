"""Auth housekeeping: purge expired sign-in codes and refresh tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from admitone.auth import service as auth
from admitone.core.jobs import JobContext, cron, job


@job("auth.purge_expired")
def purge_expired(ctx: JobContext, /, **_: Any) -> None:
    ctx.db.mutation(auth.purge_expired)


cron("auth.purge_expired", every=timedelta(hours=1))
