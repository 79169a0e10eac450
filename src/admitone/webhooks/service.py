"""Webhook endpoints (create, list, change, delete, rotate the secret), the delivery log and
replays. Every use case checks `webhook.manage` on the endpoint's organization."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.errors import ScopeNotFound
from admitone.access.service import Scope, record_audit, require_capability
from admitone.core import jobs, outbox
from admitone.core.clock import utcnow
from admitone.core.db import after_commit
from admitone.core.ids import WebhookDeliveryId, WebhookEndpointId
from admitone.core.pagination import Keyset, SortKey
from admitone.integrations.webhooks_http import is_public
from admitone.settings import Settings
from admitone.webhooks import signing
from admitone.webhooks.errors import (
    DeliveryNotFound,
    EndpointDisabled,
    EndpointNotFound,
    InvalidWebhookUrl,
    UnknownEventType,
)
from admitone.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)

DELIVER_JOB = "webhooks.deliver"
EVENT_TYPES = (
    "order.placed",
    "order.paid",
    "order.cancelled",
    "order.expired",
    "order.refunded",
    "pass.issued",
    "pass.revoked",
    "pass.transferred",
    "checkin.accepted",
    "checkin.refused",
)
ROTATION_OVERLAP = timedelta(hours=24)
MAX_REPLAY = 10_000

NEWEST_ENDPOINTS = Keyset(
    SortKey(WebhookEndpoint.__table__.c.created_at, datetime, descending=True),
    SortKey(WebhookEndpoint.__table__.c.id, str, descending=True),
)
NEWEST_DELIVERIES = Keyset(
    SortKey(WebhookDelivery.__table__.c.created_at, datetime, descending=True),
    SortKey(WebhookDelivery.__table__.c.id, str, descending=True),
)


@dataclass(frozen=True)
class WithSecret:
    endpoint: WebhookEndpoint
    secret: str


def check_events(events: list[str]) -> list[str]:
    unknown = [e for e in events if e != "*" and e not in EVENT_TYPES]
    if unknown or not events:
        raise UnknownEventType(
            f"Unknown event types: {', '.join(unknown) or '(none given)'}.",
            allowed=["*", *EVENT_TYPES],
        )
    return sorted(set(events))


def check_url(settings: Settings, url: str) -> str:
    """Syntax, scheme and literal addresses; names are resolved and checked on every
    delivery (an answer can change)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidWebhookUrl() from exc
    local_ok = settings.is_dev and settings.notify.allow_local_webhook_targets
    if parsed.scheme not in ("http", "https") or not parsed.host or len(url) > 2000:
        raise InvalidWebhookUrl()
    if parsed.scheme == "http" and not local_ok:
        raise InvalidWebhookUrl("Outside development the URL must be https.")
    if parsed.host == "localhost" or parsed.host.endswith(".localhost"):
        if not local_ok:
            raise InvalidWebhookUrl()
        return url
    try:
        literal = ipaddress.ip_address(parsed.host)
    except ValueError:
        return url
    if not (is_public(literal) or (local_ok and literal.is_loopback)):
        raise InvalidWebhookUrl()
    return url


def subscribed_types(session: Session, organization_id: str) -> frozenset[str]:
    """The event types the organization's endpoints subscribe to (`core.outbox` skips the
    others). Disabled endpoints count: their messages are stored for a replay once they
    are enabled again; deleted ones do not."""
    rows = session.execute(
        select(WebhookEndpoint.events).where(
            WebhookEndpoint.organization_id == organization_id,
            WebhookEndpoint.deleted_at.is_(None),
        )
    ).scalars()
    return frozenset(t for events in rows for t in events)


def _changed(session: Session, organization_id: str) -> None:
    """This process's producers see the change as soon as it commits (others within
    `outbox.SUBSCRIPTIONS_TTL` seconds)."""
    after_commit(session, lambda: outbox.forget_subscriptions(organization_id))


def _endpoint(session: Session, user_id: str, endpoint_id: str) -> WebhookEndpoint:
    found = session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.deleted_at.is_(None)
        )
    )
    if found is None:
        raise EndpointNotFound()
    try:
        require_capability(
            session, user_id, Capability.WEBHOOK_MANAGE, Scope.organization(found.organization_id)
        )
    except ScopeNotFound:  # the caller may not learn that it exists
        raise EndpointNotFound() from None
    return found


def _audit(
    session: Session, user_id: str, action: str, endpoint: WebhookEndpoint, **after: object
) -> None:
    record_audit(
        session,
        actor_user_id=user_id,
        action=f"webhook_endpoint.{action}",
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        organization_id=endpoint.organization_id,
        after={"url": endpoint.url, "events": endpoint.events, **after} if after else None,
    )


def create_endpoint(
    session: Session,
    settings: Settings,
    user_id: str,
    organization_id: str,
    *,
    url: str,
    events: list[str],
    description: str | None,
) -> WithSecret:
    require_capability(
        session, user_id, Capability.WEBHOOK_MANAGE, Scope.organization(organization_id)
    )
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        id=WebhookEndpointId.new(),
        organization_id=organization_id,
        url=check_url(settings, url),
        events=check_events(events),
        description=description,
        status=EndpointStatus.ENABLED,
        secret_sealed=signing.seal(settings, secret),
        created_by_user_id=user_id,
    )
    session.add(endpoint)
    session.flush()
    _changed(session, organization_id)
    _audit(session, user_id, "created", endpoint, status=endpoint.status)
    return WithSecret(endpoint, secret)


def list_endpoints(
    session: Session, user_id: str, organization_id: str, *, limit: int, cursor: str | None
) -> tuple[list[WebhookEndpoint], str | None]:
    require_capability(
        session, user_id, Capability.WEBHOOK_MANAGE, Scope.organization(organization_id)
    )
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.deleted_at.is_(None)
    )
    return NEWEST_ENDPOINTS.page(session, query, limit=limit, cursor=cursor)


def get_endpoint(session: Session, user_id: str, endpoint_id: str) -> WebhookEndpoint:
    return _endpoint(session, user_id, endpoint_id)


def change_endpoint(
    session: Session,
    settings: Settings,
    user_id: str,
    endpoint_id: str,
    *,
    url: str | None,
    events: list[str] | None,
    description: str | None,
    enabled: bool | None,
) -> WebhookEndpoint:
    endpoint = _endpoint(session, user_id, endpoint_id)
    if url is not None:
        endpoint.url = check_url(settings, url)
    if events is not None:
        endpoint.events = check_events(events)
    if description is not None:
        endpoint.description = description
    if enabled is True and endpoint.status != EndpointStatus.ENABLED:
        endpoint.status = EndpointStatus.ENABLED
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    elif enabled is False:
        endpoint.status = EndpointStatus.DISABLED
        endpoint.disabled_reason = "disabled by a person"
        fail_pending(session, endpoint.id, "endpoint disabled")
    _changed(session, endpoint.organization_id)
    _audit(session, user_id, "updated", endpoint, status=endpoint.status)
    return endpoint


def fail_pending(session: Session, endpoint_id: str, reason: str) -> None:
    """Gives up the endpoint's pending deliveries (their queued attempts then do nothing)."""
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.FAILED, last_error=reason, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def delete_endpoint(session: Session, user_id: str, endpoint_id: str) -> None:
    endpoint = _endpoint(session, user_id, endpoint_id)
    endpoint.deleted_at = utcnow()
    endpoint.status = EndpointStatus.DISABLED
    fail_pending(session, endpoint.id, "endpoint deleted")
    _changed(session, endpoint.organization_id)
    _audit(session, user_id, "deleted", endpoint)


def rotate_secret(
    session: Session, settings: Settings, user_id: str, endpoint_id: str
) -> WithSecret:
    """A new secret; the old one stays valid (both sign every delivery) for 24 hours."""
    endpoint = _endpoint(session, user_id, endpoint_id)
    secret = signing.new_secret()
    endpoint.previous_secret_sealed = endpoint.secret_sealed
    endpoint.previous_secret_expires_at = utcnow() + ROTATION_OVERLAP
    endpoint.secret_sealed = signing.seal(settings, secret)
    _audit(session, user_id, "secret_rotated", endpoint)
    return WithSecret(endpoint, secret)


def list_deliveries(
    session: Session, user_id: str, endpoint_id: str, *, limit: int, cursor: str | None
) -> tuple[list[tuple[WebhookDelivery, str]], str | None]:
    endpoint = _endpoint(session, user_id, endpoint_id)
    query: Select[Any] = cast(
        "Select[Any]",
        select(WebhookDelivery, WebhookMessage.type)
        .join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
        .where(WebhookDelivery.endpoint_id == endpoint.id),
    )
    rows, next_cursor = NEWEST_DELIVERIES.page(
        session, query, limit=limit, cursor=cursor, scalars=False, key_of=lambda r: r[0]
    )
    return [(r[0], r[1]) for r in rows], next_cursor


def new_delivery(
    session: Session, endpoint_id: str, message_id: str, *, replay: bool = False
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        id=WebhookDeliveryId.new(),
        endpoint_id=endpoint_id,
        message_id=message_id,
        status=DeliveryStatus.PENDING,
        is_replay=replay,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(delivery)
    session.flush()
    wake_endpoint(session, endpoint_id)
    return delivery


def wake_endpoint(session: Session, endpoint_id: str, *, at: datetime | None = None) -> None:
    """(Re-)queues the endpoint's one delivery job (`webhooks.deliver`) for `at` (now):
    it delivers every due delivery of the endpoint in batches when it runs."""
    jobs.schedule(
        session,
        DELIVER_JOB,
        {"endpoint_id": endpoint_id},
        run_at=at,
        unique_key=f"{DELIVER_JOB}:{endpoint_id}",
        rearm=True,
    )


def replay_delivery(
    session: Session, user_id: str, delivery_id: str
) -> tuple[WebhookDelivery, str]:
    """A new delivery of the same message (same `webhook-id`, fresh timestamp/signature)."""
    original = session.get(WebhookDelivery, delivery_id)
    if original is None:
        raise DeliveryNotFound()
    try:
        endpoint = _endpoint(session, user_id, original.endpoint_id)
    except EndpointNotFound:
        raise DeliveryNotFound() from None
    if endpoint.status != EndpointStatus.ENABLED:
        raise EndpointDisabled()
    message = session.get(WebhookMessage, original.message_id)
    delivery = new_delivery(session, endpoint.id, original.message_id, replay=True)
    return delivery, message.type if message else ""


def replay_since(session: Session, user_id: str, endpoint_id: str, since: datetime) -> int:
    """Re-delivers every message of the endpoint's organization since `since` that it
    subscribes to (at most MAX_REPLAY, oldest first)."""
    endpoint = _endpoint(session, user_id, endpoint_id)
    if endpoint.status != EndpointStatus.ENABLED:
        raise EndpointDisabled()
    query = select(WebhookMessage.id, WebhookMessage.type).where(
        WebhookMessage.organization_id == endpoint.organization_id,
        WebhookMessage.created_at >= since,
    )
    if "*" not in endpoint.events:
        query = query.where(WebhookMessage.type.in_(endpoint.events))
    messages = session.execute(
        query.order_by(WebhookMessage.created_at, WebhookMessage.id).limit(MAX_REPLAY)
    ).all()
    for message_id, _type in messages:
        new_delivery(session, endpoint.id, message_id, replay=True)
    record_audit(
        session,
        actor_user_id=user_id,
        action="webhook_endpoint.replayed",
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        organization_id=endpoint.organization_id,
        after={"since": since.isoformat(), "count": len(messages)},
    )
    return len(messages)
