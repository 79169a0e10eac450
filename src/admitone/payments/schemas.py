"""API shapes of the payments routes (webhooks and the dev provider)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from admitone.core.ids import OrderId
from admitone.orders.models import OrderStatus
from admitone.payments.models import WebhookOutcome


class WebhookResultOut(BaseModel):
    received: bool
    outcome: WebhookOutcome = Field(
        description="What the notification did (a replay: `duplicate`)."
    )
    order_id: OrderId | None


class DevOutcomeOut(WebhookResultOut):
    order_status: OrderStatus | None
