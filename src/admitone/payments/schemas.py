"""API shapes of the payments routes (webhooks and the dev provider)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from admitone.core.ids import OrderId
from admitone.orders.models import OrderStatus


class WebhookResultOut(BaseModel):
    received: bool
    outcome: str = Field(
        description="`duplicate`, `ignored`, `unknown_reference`, `payment_failed`, `stale`, "
        "`already_paid`, `paid`, `paid_after_expiry`, `refunded_automatically`, "
        "`refund_updated`, `unknown_refund`"
    )
    order_id: OrderId | None


class DevOutcomeOut(WebhookResultOut):
    order_status: OrderStatus | None
