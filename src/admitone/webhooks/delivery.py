"""Emitting events to the endpoints that subscribe, and delivering them in batches.

`webhooks.emit` (scheduled by `core.outbox.emit_event`) stores the message once and creates a
delivery per subscribed, enabled endpoint, each due at once (`next_attempt_at`), and re-arms
the endpoint's one `webhooks.deliver` job (`service.wake_endpoint`).

`webhooks.deliver {endpoint_id}` delivers what is due for that endpoint, `BATCH` at a time:
one transaction claims the due deliveries (a conditional UPDATE moves their
`next_attempt_at` a lease ahead, so a concurrent run or a crashed worker's leftovers are not
sent twice while the lease lasts), the POSTs go out with no transaction open over one
pooled client, and one transaction records every answer. 2xx succeeds. Another answer fails
that delivery only and schedules its next attempt (exponential backoff with full jitter, 5 s
doubling up to 6 h between attempts) until `webhook_retry_hours` after it was created; a
connection error or timeout also stops the batch (the endpoint is down: the rest wait with
it instead of each timing out). A 410 disables the endpoint at once; an endpoint that has
failed for `webhook_disable_after_hours` without a success is disabled too, and its
organization's owners are notified. The run ends by re-arming the job at the endpoint's
next due time, if any; `webhooks.sweep` (every minute) re-arms any endpoint left with due
deliveries (a lease that ran out).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from admitone.core import outbox
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.integrations import webhooks_http
from admitone.orgs.models import TeamMember
from admitone.settings import Settings
from admitone.webhooks import signing
from admitone.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from admitone.webhooks.service import fail_pending, new_delivery, wake_endpoint

FIRST_DELAY = 5.0
MAX_DELAY = 6 * 3600.0
BATCH = 25
LEASE = timedelta(minutes=5)  # > BATCH POSTs at the longest timeout
RUN_SECONDS = 30.0  # then the job re-arms itself and gives the worker back


def backoff(attempt: int) -> timedelta:
    """The wait after failed attempt `attempt` (1-based): full jitter over 5 s * 2^(n-1)."""
    ceiling = min(MAX_DELAY, FIRST_DELAY * 2.0 ** (attempt - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def body_of(message_id: str, type: str, created_at: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": message_id, "type": type, "created_at": created_at, "data": data}


def emit(session: Session, args: dict[str, Any]) -> int:
    """Stores the message (once per id) and a delivery per subscribed enabled endpoint."""
    message_id = str(args["id"])
    ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    created = datetime.fromisoformat(str(args["created_at"]))
    payload = body_of(message_id, str(args["type"]), str(args["created_at"]), args["data"])
    result = session.execute(
        ins(WebhookMessage)
        .values(
            id=message_id,
            organization_id=str(args["organization_id"]),
            type=str(args["type"]),
            payload=payload,
            created_at=created,
        )
        .on_conflict_do_nothing()
    )
    if not getattr(result, "rowcount", 1):
        return 0  # this job ran before
    endpoints = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.organization_id == str(args["organization_id"]),
            WebhookEndpoint.status == EndpointStatus.ENABLED,
            WebhookEndpoint.deleted_at.is_(None),
        )
    ).all()
    count = 0
    for endpoint_id, events in endpoints:
        if "*" in events or args["type"] in events:
            new_delivery(session, endpoint_id, message_id)
            count += 1
    return count


_D, _E, _M = WebhookDelivery, WebhookEndpoint, WebhookMessage


@dataclass(frozen=True)
class Target:
    endpoint_id: str
    url: str
    keys: list[str]


@dataclass(frozen=True)
class Attempt:
    delivery_id: str
    message_id: str
    body: bytes
    first_at: datetime


@dataclass
class Batch:
    target: Target
    attempts: list[Attempt]


@dataclass
class Result:
    attempt: Attempt
    answer: webhooks_http.Answer | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.answer is not None and 200 <= self.answer.status < 300


@dataclass
class Outcome:
    results: list[Result] = field(default_factory=list)
    unsent: list[Attempt] = field(default_factory=list)  # claimed, not tried (batch stopped)


def _target(session: Session, settings: Settings, endpoint_id: str) -> Target | None:
    row = session.execute(
        select(
            _E.url,
            _E.status,
            _E.deleted_at,
            _E.secret_sealed,
            _E.previous_secret_sealed,
            _E.previous_secret_expires_at,
        ).where(_E.id == endpoint_id)
    ).one_or_none()
    if row is None or row.status != EndpointStatus.ENABLED or row.deleted_at is not None:
        return None  # its pending deliveries were failed when it was disabled
    keys = [signing.unseal(settings, row.secret_sealed)]
    expires = row.previous_secret_expires_at
    if row.previous_secret_sealed and expires and expires > utcnow():
        keys.append(signing.unseal(settings, row.previous_secret_sealed))
    return Target(endpoint_id, row.url, keys)


def _claim(session: Session, settings: Settings, endpoint_id: str) -> Batch | None:
    """Up to BATCH due deliveries of the endpoint, leased to this run; None when none is
    due (the job is then re-armed for the next due one)."""
    target = _target(session, settings, endpoint_id)
    if target is None:
        return None
    now = utcnow()
    due = (
        select(_D.id)
        .where(_D.endpoint_id == endpoint_id, _D.status == DeliveryStatus.PENDING)
        .where(_D.next_attempt_at <= now)
        .order_by(_D.next_attempt_at, _D.id)
        .limit(BATCH)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = session.execute(
        update(_D)
        .where(_D.id.in_(due.scalar_subquery()), _D.status == DeliveryStatus.PENDING)
        .values(next_attempt_at=now + LEASE)
        .returning(_D.id, _D.message_id, _D.created_at)
        .execution_options(synchronize_session=False)
    ).all()
    if not claimed:
        _rearm_for_next(session, endpoint_id)
        return None
    payloads: dict[str, Any] = {
        row.id: row.payload
        for row in session.execute(
            select(_M.id, _M.payload).where(_M.id.in_({c.message_id for c in claimed}))
        )
    }
    attempts = [
        Attempt(
            c.id,
            c.message_id,
            json.dumps(payloads[c.message_id], separators=(",", ":"), ensure_ascii=False).encode(),
            c.created_at,
        )
        for c in sorted(claimed, key=lambda c: str(c.id))
    ]
    return Batch(target, attempts)


def headers_for(target: Target, attempt: Attempt, timestamp: int) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "AdmitOne-Webhooks/1",
        "webhook-id": attempt.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.signature_header(
            target.keys, attempt.message_id, timestamp, attempt.body
        ),
    }


def _post_all(settings: Settings, client: httpx.Client, batch: Batch) -> Outcome:
    """The POSTs, no transaction open. Stops at a 410 (the endpoint is being disabled) or a
    connection failure (it is down); what was not tried is returned as `unsent`."""
    n = settings.notify
    allow_loopback = settings.is_dev and n.allow_local_webhook_targets
    timeout = httpx.Timeout(n.webhook_timeout_seconds, connect=n.webhook_connect_timeout_seconds)
    outcome = Outcome()
    for index, attempt in enumerate(batch.attempts):
        answer: webhooks_http.Answer | None = None
        error: str | None = None
        try:
            answer = webhooks_http.post(
                client,
                batch.target.url,
                content=attempt.body,
                headers=headers_for(batch.target, attempt, int(utcnow().timestamp())),
                allow_loopback=allow_loopback,
                timeout=timeout,
            )
            if not 200 <= answer.status < 300:
                error = f"HTTP {answer.status}"
        except webhooks_http.TargetRefused as exc:
            error = f"refused: {exc}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        outcome.results.append(Result(attempt, answer, error))
        if answer is None or answer.status == 410:
            outcome.unsent = batch.attempts[index + 1 :]
            break
    return outcome


_SUCCEEDED = (
    update(_D)
    .where(_D.id == bindparam("b_id"), _D.status == DeliveryStatus.PENDING)
    .values(
        status=DeliveryStatus.SUCCEEDED,
        attempts=_D.attempts + 1,
        last_attempt_at=bindparam("b_at"),
        delivered_at=bindparam("b_at"),
        next_attempt_at=None,
        response_status=bindparam("b_status"),
        response_ms=bindparam("b_ms"),
        response_excerpt=bindparam("b_excerpt"),
        last_error=None,
        updated_at=bindparam("b_at"),
    )
)


def _record_batch(
    session: Session, settings: Settings, batch: Batch, outcome: Outcome, last: bool
) -> None:
    """Every answer of the batch in one transaction; `last`: re-arm the job for later."""
    now = utcnow()
    succeeded = [r for r in outcome.results if r.ok]
    if succeeded:
        session.connection().execute(
            _SUCCEEDED,
            [
                {
                    "b_id": r.attempt.delivery_id,
                    "b_at": now,
                    "b_status": r.answer.status if r.answer else None,
                    "b_ms": r.answer.elapsed_ms if r.answer else None,
                    "b_excerpt": r.answer.body.decode("utf-8", "replace")[:1000]
                    if r.answer
                    else None,
                }
                for r in succeeded
            ],
        )
        session.execute(
            update(_E)
            .where(_E.id == batch.target.endpoint_id, _E.failing_since.is_not(None))
            .values(failing_since=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    retry_at: datetime | None = None
    # A success in the batch shows the endpoint alive: its other failures are retried, and
    # only a 410 disables it (whatever order the answers came in).
    alive = bool(succeeded)
    for r in outcome.results:
        if not r.ok:
            retry_at = _record_failure(session, settings, batch.target, r, now, alive) or retry_at
    if outcome.unsent:
        # Not tried: they wait for the endpoint with the failed one (no attempt counted).
        session.execute(
            update(_D)
            .where(
                _D.id.in_([a.delivery_id for a in outcome.unsent]),
                _D.status == DeliveryStatus.PENDING,
            )
            .values(next_attempt_at=retry_at or now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    if last or outcome.unsent:
        _rearm_for_next(session, batch.target.endpoint_id)


def _record_failure(
    session: Session,
    settings: Settings,
    target: Target,
    result: Result,
    now: datetime,
    alive: bool = False,
) -> datetime | None:
    """Records a failed attempt; returns when it is tried again (None: given up). `alive`:
    another delivery of the same batch succeeded (the endpoint is not failing for days)."""
    attempt, answer, error = result.attempt, result.answer, result.error
    delivery = session.get(WebhookDelivery, attempt.delivery_id)
    endpoint = session.get(WebhookEndpoint, target.endpoint_id)
    if delivery is None or endpoint is None or delivery.status != DeliveryStatus.PENDING:
        return None
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_status = answer.status if answer else None
    delivery.response_ms = answer.elapsed_ms if answer else None
    delivery.response_excerpt = answer.body.decode("utf-8", "replace")[:1000] if answer else None
    delivery.last_error = error[:1000] if error else None
    gone = answer is not None and answer.status == 410
    if not alive and endpoint.failing_since is None:
        endpoint.failing_since = now
    failing_for = timedelta(0) if alive else now - (endpoint.failing_since or now)
    if gone or failing_for >= timedelta(hours=settings.notify.webhook_disable_after_hours):
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        if endpoint.status == EndpointStatus.ENABLED:
            reason = "the endpoint answered 410 Gone" if gone else "failing for days"
            _disable(session, endpoint, reason)
        return None
    wait = backoff(delivery.attempts)
    if now + wait > attempt.first_at + timedelta(hours=settings.notify.webhook_retry_hours):
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        return None
    delivery.next_attempt_at = now + wait
    session.flush()
    return delivery.next_attempt_at


def _rearm_for_next(session: Session, endpoint_id: str) -> None:
    """Queues the endpoint's job again at its earliest pending delivery, if any."""
    next_at = session.scalar(
        select(func.min(_D.next_attempt_at)).where(
            _D.endpoint_id == endpoint_id, _D.status == DeliveryStatus.PENDING
        )
    )
    if next_at is not None:
        wake_endpoint(session, endpoint_id, at=next_at)


def _disable(session: Session, endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.status = EndpointStatus.DISABLED
    endpoint.disabled_reason = reason
    session.flush()
    fail_pending(session, endpoint.id, "endpoint disabled")
    owners = session.scalars(
        select(TeamMember.user_id).where(
            TeamMember.organization_id == endpoint.organization_id, TeamMember.role == "owner"
        )
    ).all()
    outbox.notify(
        session,
        "webhook_disabled",
        users=owners,
        data={"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason},
    )


def deliver_due(db: Database, settings: Settings, client: httpx.Client, endpoint_id: str) -> int:
    """Delivers the endpoint's due deliveries, a batch per claim and record; returns how
    many attempts were made. Gives the worker back after RUN_SECONDS (re-armed)."""
    started = time.monotonic()
    made = 0
    while True:
        batch = db.mutation(_claim, settings, endpoint_id)
        if batch is None:
            return made
        outcome = _post_all(settings, client, batch)
        made += len(outcome.results)
        over = time.monotonic() - started >= RUN_SECONDS
        last = bool(outcome.unsent) or len(batch.attempts) < BATCH or over
        db.mutation(_record_batch, settings, batch, outcome, last)
        if last:
            return made


def due_endpoints(session: Session) -> list[str]:
    """Enabled endpoints with a due pending delivery (`webhooks.sweep`)."""
    return list(
        session.scalars(
            select(_D.endpoint_id)
            .join(_E, _E.id == _D.endpoint_id)
            .where(
                _D.status == DeliveryStatus.PENDING,
                _D.next_attempt_at <= utcnow(),
                _E.status == EndpointStatus.ENABLED,
            )
            .distinct()
        )
    )
