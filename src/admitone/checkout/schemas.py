"""API shapes of the order as checkout shows it: with its payment, passes and refunds."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from admitone.core.ids import (
    AddonId,
    EventId,
    OrderId,
    OrderItemId,
    PassId,
    PaymentId,
    RefundId,
    TicketTierId,
)
from admitone.orders.models import OrderStatus
from admitone.orders.schemas import Money
from admitone.passes.models import PassStatus
from admitone.payments.models import PaymentStatus, RefundStatus


class OrderItemOut(BaseModel):
    id: OrderItemId
    kind: Literal["ticket", "addon"]
    tier_id: TicketTierId | None
    addon_id: AddonId | None
    name: str
    quantity: int
    refunded_quantity: int
    unit_price: Money
    total: Money


class PaymentOut(BaseModel):
    id: PaymentId
    provider: str
    reference: str
    status: PaymentStatus
    amount: Money
    checkout_url: str | None


class PassOut(BaseModel):
    id: PassId
    code: str
    qr: str
    tier_id: TicketTierId
    attendee_name: str | None
    status: PassStatus


class BuyerOut(BaseModel):
    email: str
    name: str | None
    user_id: str | None


class RefundOut(BaseModel):
    id: RefundId
    status: RefundStatus
    amount: Money
    reason: str
    created_at: str | None


class OrderOut(BaseModel):
    id: OrderId
    event_id: EventId
    status: OrderStatus
    buyer: BuyerOut
    items: list[OrderItemOut]
    total: Money
    refunded: Money
    created_at: datetime
    expires_at: datetime | None
    paid_at: datetime | None
    referral_code: str | None = None
    payment: PaymentOut | None = None
    passes: list[PassOut] = Field(default_factory=list)
    refunds: list[RefundOut] = Field(default_factory=list)
    order_token: str | None = Field(
        default=None,
        description="Only in the response that created the order: lets an anonymous buyer "
        "read it (`?token=` or `X-Order-Token`).",
    )


class RefundResultOut(BaseModel):
    order: OrderOut
    refund: RefundOut | None
    amount: Money
    revoked_pass_ids: list[PassId]
