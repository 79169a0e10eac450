"""Payments (one per paid order), refunds, and every webhook received (keyed by provider
event id, so a replay is a no-op)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, MinorUnits, Mutable, Timestamped, enum_check, id_column
from admitone.core.ids import OrderId, PaymentId, RefundId, UserId, WebhookEventId


class PaymentStatus(StrEnum):
    """`pending -> succeeded | failed` (a failed checkout start, or a declined payment)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundStatus(StrEnum):
    """`pending` until the provider answers: `succeeded` or `failed`."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Payment(Mutable, Base):
    __tablename__ = "payments"
    __table_args__ = (
        enum_check("status", PaymentStatus),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_payments_status_created", "status", "created_at"),
    )

    id: Mapped[PaymentId] = id_column()
    order_id: Mapped[OrderId] = mapped_column(ForeignKey("orders.id"), unique=True)
    provider: Mapped[str] = mapped_column(String(20))
    # What we send to the provider; providers restrict the alphabet, so no underscore.
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[PaymentStatus] = mapped_column(String(10), default=PaymentStatus.PENDING)
    amount: Mapped[MinorUnits]
    currency: Mapped[str] = mapped_column(String(3))
    checkout_url: Mapped[str | None] = mapped_column(String(1000))
    provider_payment_id: Mapped[str | None] = mapped_column(String(200))
    paid_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(String(200))


class Refund(Mutable, Base):
    """Money going back to a buyer; the provider is called by the `payments.refund` job."""

    __tablename__ = "refunds"
    __table_args__ = (
        enum_check("status", RefundStatus),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[RefundId] = id_column()
    order_id: Mapped[OrderId] = mapped_column(ForeignKey("orders.id"), index=True)
    payment_id: Mapped[PaymentId] = mapped_column(ForeignKey("payments.id"), index=True)
    amount: Mapped[MinorUnits]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[RefundStatus] = mapped_column(String(10), default=RefundStatus.PENDING)
    reason: Mapped[str] = mapped_column(String(60))
    items: Mapped[dict[str, Any] | None]  # {"<order_item_id>": quantity}
    requested_by_user_id: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"))
    unique_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    provider_refund_id: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None]


class WebhookEvent(Timestamped, Base):
    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "provider_event_id"),)

    id: Mapped[WebhookEventId] = id_column()
    provider: Mapped[str] = mapped_column(String(20))
    provider_event_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(100))
    reference: Mapped[str | None] = mapped_column(String(64), index=True)
    # applied, duplicate_payment, ignored, unknown_reference, payment_amount_mismatch, ...
    outcome: Mapped[str] = mapped_column(String(40), default="received")
    payload: Mapped[dict[str, Any] | None]
