"""Wallet jobs: the `wallet.sync` cron that notices changed passes, the APNs push
(`wallet.push_pass_update {pass_id}`) and the Google object update
(`wallet.google_update {pass_id}`). Network calls run here, never in a transaction;
failures raise and the job is retried with backoff."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from admitone.core import jobs
from admitone.core.ids import PassId
from admitone.core.jobs import JobContext
from admitone.integrations.wallet.apple import ApnsClient
from admitone.integrations.wallet.google import GoogleWalletClient
from admitone.integrations.wallet.keys import apple_material, google_key
from admitone.passes import pdf
from admitone.passes import service as passes
from admitone.passes.errors import PassNotFound
from admitone.passes.wallet import service as wallet
from admitone.passes.wallet.content import google_id, google_object

log = logging.getLogger(__name__)

SYNC = "wallet.sync"
jobs.cron(SYNC, every=timedelta(minutes=1))


@jobs.job(SYNC)
def sync_changed_passes(ctx: JobContext, /, **_: Any) -> None:
    """Schedules the pushes of every pass in a wallet that changed since its last push
    (its event moved, its tier renamed, the pass revoked, refunded or transferred...)."""
    while True:
        due = ctx.db.query(wallet.passes_due_for_sync, limit=200)
        for pass_id in due:
            ctx.db.mutation(wallet.schedule_updates, pass_id)
        if len(due) < 200:
            return


@jobs.job(wallet.PUSH_JOB, max_attempts=8)
def push_pass_update(ctx: JobContext, /, **args: Any) -> None:
    """An empty APNs notification to every device that installed the pass; tokens APNs
    says are gone lose their registration."""
    pass_id = str(args["pass_id"])
    tokens = ctx.db.query(wallet.push_tokens, pass_id)
    if not tokens:
        return
    w = ctx.settings.wallet
    with ApnsClient(
        apple_material(ctx.settings),
        base_url=w.apns_url,
        ca_file=w.apns_ca_file,
        timeout=w.http_timeout_seconds,
    ) as apns:
        results = apns.push(w.apple_pass_type_id, tokens)
    gone = [r.push_token for r in results if r.unregistered]
    for r in results:
        if r.status != 200 and not r.unregistered:
            log.warning("APNs refused a push for %s: %s %s", pass_id, r.status, r.reason)
    if gone:
        ctx.db.mutation(wallet.drop_push_tokens, pass_id, gone)


def _ticket(session: Session, settings: Any, pass_id: str) -> pdf.Ticket | None:
    try:
        found = passes.get_pass(session, PassId(pass_id))
    except PassNotFound:
        return None
    return pdf.tickets_for(session, settings, [found])[0]


@jobs.job(wallet.GOOGLE_JOB, max_attempts=8)
def google_update(ctx: JobContext, /, **args: Any) -> None:
    """PATCHes the pass's EventTicketObject with what it says now (INACTIVE when revoked
    or transferred away); an object the holder never saved is left alone."""
    pass_id = str(args["pass_id"])
    ticket = ctx.db.query(_ticket, ctx.settings, pass_id)
    if ticket is None:
        return
    w = ctx.settings.wallet
    client = GoogleWalletClient(
        google_key(ctx.settings),
        service_account=w.google_service_account_email,
        api_url=w.google_api_url,
        token_url=w.google_token_url,
        timeout=w.http_timeout_seconds,
    )
    try:
        body = google_object(ctx.settings, ticket, ticket.event_id)
        saved = client.patch_object(google_id(ctx.settings, pass_id), body)
    finally:
        client.close()
    if not saved:
        log.info("Google Wallet has no object for %s (never saved)", pass_id)
