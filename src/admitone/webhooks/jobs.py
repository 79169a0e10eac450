"""Webhook jobs: `webhooks.emit` (fan an event out to endpoints), `webhooks.deliver` (an
endpoint's due deliveries in batches; failed deliveries are rescheduled by the run itself,
so the job never raises for one) and the `webhooks.sweep` cron (endpoints left with due
deliveries, e.g. after a worker died holding their lease)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.core import jobs, outbox
from admitone.core.jobs import JobContext, job
from admitone.core.outbox import EMIT_JOB
from admitone.webhooks.delivery import deliver_due, due_endpoints, emit
from admitone.webhooks.models import WebhookDelivery
from admitone.webhooks.service import DELIVER_JOB, subscribed_types, wake_endpoint

SWEEP_JOB = "webhooks.sweep"
jobs.cron(SWEEP_JOB, every=timedelta(minutes=1))

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
    endpoint_id = args.get("endpoint_id")
    if endpoint_id is None:  # a job queued before batching: `{"delivery_id": ...}`
        endpoint_id = ctx.db.query(
            lambda s: s.scalar(
                select(WebhookDelivery.endpoint_id).where(
                    WebhookDelivery.id == str(args["delivery_id"])
                )
            )
        )
        if endpoint_id is None:
            return
    deliver_due(ctx.db, ctx.settings, _client(), str(endpoint_id))


@job(SWEEP_JOB)
def sweep(ctx: JobContext, /, **_: Any) -> None:
    def _wake(session: Session) -> None:
        for endpoint_id in due_endpoints(session):
            wake_endpoint(session, endpoint_id)

    ctx.db.mutation(_wake)
