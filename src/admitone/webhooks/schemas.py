"""API shapes of outgoing webhooks."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from admitone.core.ids import OrganizationId, WebhookDeliveryId, WebhookEndpointId
from admitone.webhooks.models import DeliveryStatus, EndpointStatus


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000)
    events: list[str] = Field(
        min_length=1, max_length=20, description='Event types, or `["*"]` for all.'
    )
    description: str | None = Field(default=None, max_length=200)


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2000)
    events: list[str] | None = Field(default=None, min_length=1, max_length=20)
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None


class EndpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: WebhookEndpointId
    organization_id: OrganizationId
    url: str
    events: list[str]
    description: str | None
    status: EndpointStatus
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None
    created_at: datetime


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="`whsec_...`: shown only now; store it.")


class DeliveryOut(BaseModel):
    id: WebhookDeliveryId
    message_id: str = Field(description="The `webhook-id` header of every attempt.")
    type: str
    status: DeliveryStatus
    is_replay: bool
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    response_status: int | None
    response_ms: int | None
    response_excerpt: str | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class ReplaySince(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime


class Replayed(BaseModel):
    queued: int
