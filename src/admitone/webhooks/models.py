"""Webhook endpoints of an organization, the events emitted to them and each delivery."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import (
    Base,
    JSONType,
    Mutable,
    Timestamped,
    enum_check,
    enum_column,
    id_column,
)
from admitone.core.ids import (
    OrganizationId,
    UserId,
    WebhookDeliveryId,
    WebhookEndpointId,
    WebhookMessageId,
)


class EndpointStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # queued or waiting for its next attempt
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # gave up (retry window over, 410, endpoint disabled or deleted)


class WebhookEndpoint(Mutable, Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        enum_check("status", EndpointStatus),
        Index("ix_webhook_endpoints_org", "organization_id", "created_at"),
    )

    id: Mapped[WebhookEndpointId] = id_column()
    organization_id: Mapped[OrganizationId] = mapped_column(ForeignKey("organizations.id"))
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(200))
    events: Mapped[list[str]] = mapped_column(JSONType)
    status: Mapped[str] = enum_column(EndpointStatus, default=EndpointStatus.ENABLED)
    # The signing keys, encrypted with the settings secret (they must be read to sign).
    secret_sealed: Mapped[str] = mapped_column(Text)
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None]
    # Since when every attempt failed (cleared by a success); disables after days.
    failing_since: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    created_by_user_id: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"))
    deleted_at: Mapped[datetime | None]


class WebhookMessage(Timestamped, Base):
    """One emitted event: its id is the `webhook-id` of every delivery and replay."""

    __tablename__ = "webhook_messages"
    __table_args__ = (Index("ix_webhook_messages_org_created", "organization_id", "created_at"),)

    id: Mapped[WebhookMessageId] = id_column()
    organization_id: Mapped[OrganizationId] = mapped_column(ForeignKey("organizations.id"))
    type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]]  # the body: {id, type, created_at, data}


class WebhookDelivery(Mutable, Base):
    """One message to one endpoint (a replay is a new delivery of the same message)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        enum_check("status", DeliveryStatus),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
        # What a delivery run claims (an endpoint's due pending deliveries) and the sweep
        # reads: only pending rows, so it stays small however long the log grows.
        Index(
            "ix_webhook_deliveries_due",
            "endpoint_id",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[WebhookDeliveryId] = id_column()
    endpoint_id: Mapped[WebhookEndpointId] = mapped_column(ForeignKey("webhook_endpoints.id"))
    message_id: Mapped[WebhookMessageId] = mapped_column(
        ForeignKey("webhook_messages.id"), index=True
    )
    status: Mapped[str] = enum_column(DeliveryStatus, default=DeliveryStatus.PENDING)
    is_replay: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    response_status: Mapped[int | None]
    response_ms: Mapped[int | None]
    response_excerpt: Mapped[str | None] = mapped_column(String(4096))
    last_error: Mapped[str | None] = mapped_column(String(1000))
    delivered_at: Mapped[datetime | None]
