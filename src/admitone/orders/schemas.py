"""API shapes of orders (what a buyer sends), cancellations, refunds and add-ons; the
order as it is answered is `checkout.schemas.OrderOut`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from admitone.core.ids import (
    AddonId,
    EventId,
    OrderItemId,
    TicketTierId,
)
from admitone.orders.models import AddonPer

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
ReferralCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{4,32}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Money(BaseModel):
    amount: int
    currency: str


class MoneyIn(Strict):
    amount: int = Field(ge=0, le=10**12)
    currency: Currency


# --- placing ------------------------------------------------------------------------------


class ItemIn(Strict):
    tier_id: TicketTierId
    quantity: int = Field(ge=1, le=100)


class AddonIn(Strict):
    addon_id: AddonId
    quantity: int = Field(ge=1, le=100)


class AttendeeIn(Strict):
    name: Name
    email: EmailStr | None = None


class BuyerIn(Strict):
    email: EmailStr | None = None
    name: Name | None = None


class OrderIn(Strict):
    event_id: EventId
    items: list[ItemIn] = Field(min_length=1, max_length=20)
    addons: list[AddonIn] = Field(default_factory=list, max_length=20)
    attendees: list[AttendeeIn] | None = Field(default=None, max_length=200)
    buyer: BuyerIn | None = None
    access_code: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    provider: Literal["dev", "paystack", "stripe"] | None = Field(
        default=None, description="Payment provider; the deployment's default when omitted."
    )
    referral_code: ReferralCode | None = Field(
        default=None, description="The referral code the buyer came with (kept on the order)."
    )


# --- changing -----------------------------------------------------------------------------


class CancelIn(Strict):
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None


class RefundLineIn(Strict):
    order_item_id: OrderItemId
    quantity: int = Field(ge=1, le=1000)


class RefundIn(Strict):
    items: list[RefundLineIn] | None = Field(
        default=None, max_length=50, description="Omit for a full refund of what remains."
    )
    reason: Annotated[str, StringConstraints(min_length=1, max_length=60)] = "requested"


# --- add-ons ------------------------------------------------------------------------------


class AddonCreateIn(Strict):
    event_id: EventId
    name: Name
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    price: MoneyIn
    capacity: int = Field(ge=0, le=10_000_000)
    per: AddonPer = AddonPer.ORDER
    max_per_order: int = Field(default=1, ge=1, le=100)
    position: int = Field(default=0, ge=0, le=10_000)


class AddonPatchIn(Strict):
    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    price: MoneyIn | None = None
    capacity: int | None = Field(default=None, ge=0, le=10_000_000)
    max_per_order: int | None = Field(default=None, ge=1, le=100)
    is_active: bool | None = None
    position: int | None = Field(default=None, ge=0, le=10_000)


class AddonOut(BaseModel):
    id: AddonId
    event_id: EventId
    name: str
    description: str | None
    price: Money
    per: AddonPer
    max_per_order: int
    capacity: int
    available: int
    is_active: bool
    position: int


class DriftOut(BaseModel):
    event_id: str
    kind: str
    row_id: str
    held_counter: int
    held_rows: int
    sold_counter: int
    sold_rows: int
