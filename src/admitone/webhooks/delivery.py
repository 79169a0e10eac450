"""Emitting events to the endpoints that subscribe, and delivering them.

`webhooks.emit` (scheduled by `core.outbox.emit_event`) stores the message once and creates a
delivery per subscribed, enabled endpoint. `webhooks.deliver` makes one attempt outside any
transaction and records it; a failure schedules the next attempt itself (exponential
backoff with full jitter, 5 s doubling up to 6 h between attempts) until `webhook_retry_hours`
after the first attempt. A 410 disables the endpoint at once; an endpoint that has failed
for `webhook_disable_after_hours` without a success is disabled too, and its organization's
owners are notified.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from admitone.core import jobs, outbox
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
from admitone.webhooks.service import DELIVER_JOB, fail_pending, new_delivery

FIRST_DELAY = 5.0
MAX_DELAY = 6 * 3600.0


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


@dataclass(frozen=True)
class Attempt:
    delivery_id: str
    endpoint_id: str
    url: str
    keys: list[str]
    message_id: str
    body: bytes
    first_at: datetime


_D, _E, _M = WebhookDelivery, WebhookEndpoint, WebhookMessage
# Columns, not entities: one row per attempt, without the ORM's identity-map work.
_LOAD = (
    select(
        _D.status,
        _D.created_at,
        _D.message_id,
        _E.id.label("endpoint_id"),
        _E.url,
        _E.status.label("endpoint_status"),
        _E.deleted_at,
        _E.secret_sealed,
        _E.previous_secret_sealed,
        _E.previous_secret_expires_at,
        _M.payload,
    )
    .join(_E, _E.id == _D.endpoint_id)
    .join(_M, _M.id == _D.message_id)
)


def _prepare(session: Session, settings: Settings, delivery_id: str) -> Attempt | None:
    row = session.execute(_LOAD.where(_D.id == delivery_id)).one_or_none()
    if row is None or row.status != DeliveryStatus.PENDING:
        return None
    if row.endpoint_status != EndpointStatus.ENABLED or row.deleted_at is not None:
        return None  # its pending deliveries were failed when it was disabled
    keys = [signing.unseal(settings, row.secret_sealed)]
    expires = row.previous_secret_expires_at
    if row.previous_secret_sealed and expires and expires > utcnow():
        keys.append(signing.unseal(settings, row.previous_secret_sealed))
    body = json.dumps(row.payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Attempt(
        delivery_id, row.endpoint_id, row.url, keys, row.message_id, body, row.created_at
    )


def headers_for(attempt: Attempt, timestamp: int) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "AdmitOne-Webhooks/1",
        "webhook-id": attempt.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.signature_header(
            attempt.keys, attempt.message_id, timestamp, attempt.body
        ),
    }


def _record(
    session: Session,
    settings: Settings,
    attempt: Attempt,
    answer: webhooks_http.Answer | None,
    error: str | None,
) -> None:
    now = utcnow()
    if answer is not None and 200 <= answer.status < 300:
        _record_success(session, attempt, answer, now)
        return
    delivery = session.get(WebhookDelivery, attempt.delivery_id)
    endpoint = session.get(WebhookEndpoint, attempt.endpoint_id)
    if delivery is None or endpoint is None or delivery.status != DeliveryStatus.PENDING:
        return
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_status = answer.status if answer else None
    delivery.response_ms = answer.elapsed_ms if answer else None
    delivery.response_excerpt = answer.body.decode("utf-8", "replace")[:1000] if answer else None
    delivery.last_error = error[:1000] if error else None
    if answer is not None and 200 <= answer.status < 300:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        endpoint.failing_since = None
        return
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    gone = answer is not None and answer.status == 410
    failing_for = now - endpoint.failing_since
    if gone or failing_for >= timedelta(hours=settings.notify.webhook_disable_after_hours):
        reason = "the endpoint answered 410 Gone" if gone else "failing for days"
        _disable(session, endpoint, reason)
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        return
    wait = backoff(delivery.attempts)
    if now + wait > attempt.first_at + timedelta(hours=settings.notify.webhook_retry_hours):
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        return
    delivery.next_attempt_at = now + wait
    jobs.schedule(session, DELIVER_JOB, {"delivery_id": delivery.id}, run_at=now + wait)


def _record_success(
    session: Session, attempt: Attempt, answer: webhooks_http.Answer, now: datetime
) -> None:
    """The common case in two conditional UPDATEs (no ORM load)."""
    session.execute(
        update(_D)
        .where(_D.id == attempt.delivery_id, _D.status == DeliveryStatus.PENDING)
        .values(
            status=DeliveryStatus.SUCCEEDED,
            attempts=_D.attempts + 1,
            last_attempt_at=now,
            delivered_at=now,
            next_attempt_at=None,
            response_status=answer.status,
            response_ms=answer.elapsed_ms,
            response_excerpt=answer.body.decode("utf-8", "replace")[:1000],
            last_error=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(_E)
        .where(_E.id == attempt.endpoint_id, _E.failing_since.is_not(None))
        .values(failing_since=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def _disable(session: Session, endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.status = EndpointStatus.DISABLED
    endpoint.disabled_reason = reason
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


def attempt_delivery(
    db: Database, settings: Settings, client: httpx.Client, delivery_id: str
) -> None:
    """One attempt: read (query), POST (no transaction open), record (mutation)."""
    attempt = db.query(_prepare, settings, delivery_id)
    if attempt is None:
        return
    n = settings.notify
    allow_loopback = settings.is_dev and n.allow_local_webhook_targets
    timeout = httpx.Timeout(n.webhook_timeout_seconds, connect=n.webhook_connect_timeout_seconds)
    answer: webhooks_http.Answer | None = None
    error: str | None = None
    try:
        answer = webhooks_http.post(
            client,
            attempt.url,
            content=attempt.body,
            headers=headers_for(attempt, int(utcnow().timestamp())),
            allow_loopback=allow_loopback,
            timeout=timeout,
        )
        if not 200 <= answer.status < 300:
            error = f"HTTP {answer.status}"
    except webhooks_http.TargetRefused as exc:
        error = f"refused: {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    db.mutation(_record, settings, attempt, answer, error)
