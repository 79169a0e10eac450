"""Webhook jobs: `webhooks.emit` (fan an event out to endpoints) and `webhooks.deliver`
(one attempt; the next is scheduled by the attempt itself, so the job never raises for a
failed delivery)."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from admitone.core import outbox
from admitone.core.jobs import JobContext, job
from admitone.core.outbox import EMIT_JOB
from admitone.webhooks.delivery import attempt_delivery, emit
from admitone.webhooks.service import DELIVER_JOB, subscribed_types

# Producers skip an event no endpoint subscribes to (registered here: every app and worker
# loads the `jobs` modules, and producers never import `webhooks`).
outbox.set_subscriptions(subscribed_types)

_local = threading.local()


def _client() -> httpx.Client:
    """One pooled client per worker thread; redirects are followed by hand (checked)."""
    client: httpx.Client | None = getattr(_local, "client", None)
    if client is None:
        client = _local.client = httpx.Client(follow_redirects=False, trust_env=False)
    return client


@job(EMIT_JOB)
def emit_event(ctx: JobContext, /, **args: Any) -> None:
    ctx.db.mutation(emit, args)


@job(DELIVER_JOB)
def deliver(ctx: JobContext, /, **args: Any) -> None:
    attempt_delivery(ctx.db, ctx.settings, _client(), str(args["delivery_id"]))
