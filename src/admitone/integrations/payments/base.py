"""The interface every payment provider adapter implements, and the values it returns.

Adapters talk to the network and must never be called inside a database transaction:
the payments domain calls them from actions and jobs and records results with mutations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from admitone.core.errors import AppError, ProviderError

PaymentStatus = Literal["pending", "succeeded", "failed"]


@dataclass(frozen=True)
class Checkout:
    """Where the buyer pays: returned by `initialize`."""

    reference: str  # our payment reference, echoed by the provider
    checkout_url: str
    provider_payment_id: str | None = None


@dataclass(frozen=True)
class Verification:
    """The provider's own word on a payment (from `verify` or a webhook)."""

    reference: str
    status: PaymentStatus
    amount: int  # minor units
    currency: str  # ISO 4217, upper case
    provider_payment_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook. `event_id` is the provider's unique id, used to drop replays."""

    event_id: str
    kind: str  # e.g. charge.success, checkout.session.completed, refund.processed
    payment: Verification | None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    provider_refund_id: str
    status: Literal["pending", "succeeded", "failed"]


class InvalidSignature(AppError):
    status = 400
    code = "invalid_signature"
    message = "The webhook signature does not verify."


class PaymentProvider(Protocol):
    name: str

    def initialize(self, *, reference: str, amount: int, currency: str, email: str,
                   callback_url: str, metadata: Mapping[str, str]) -> Checkout: ...

    def verify(self, reference: str) -> Verification: ...

    def refund(self, *, reference: str, provider_payment_id: str | None, amount: int,
               currency: str, idempotency_key: str) -> RefundResult: ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verifies the signature over the raw body (raises InvalidSignature) and parses."""
        ...


__all__ = ["Checkout", "InvalidSignature", "PaymentProvider", "ProviderError", "RefundResult",
           "Verification", "WebhookEvent"]
