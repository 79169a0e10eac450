"""The interface every payment provider adapter implements, and the values it returns.

Adapters talk to the network and must never be called inside a database transaction:
the payments domain calls them from actions and jobs and records results with mutations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
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


RefundStatus = Literal["pending", "succeeded", "failed"]


@dataclass(frozen=True)
class RefundResult:
    provider_refund_id: str
    status: RefundStatus


@dataclass(frozen=True)
class RefundUpdate:
    """A refund's state as a webhook reports it (Paystack `refund.*`, Stripe `refund.*`)."""

    reference: str | None  # our payment reference, when the provider echoes it
    provider_refund_id: str
    status: RefundStatus
    amount: int  # minor units
    currency: str  # ISO 4217, upper case


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook. `event_id` is the provider's unique id, used to drop replays."""

    event_id: str
    kind: str  # e.g. charge.success, checkout.session.completed, refund.processed
    payment: Verification | None
    raw: Mapping[str, Any] = field(default_factory=dict)
    refund: RefundUpdate | None = None


class InvalidSignature(AppError):
    status = 400
    code = "invalid_signature"
    message = "The webhook signature does not verify."


class MalformedWebhook(InvalidSignature):
    """Signed correctly (or unsignable) but not a payload we can read; a subclass so that
    `except InvalidSignature` still refuses it."""

    code = "malformed_webhook"
    message = "The webhook body is not a payload this provider sends."


class PaymentNotFound(ProviderError):
    """The provider answered that it has no payment under this reference."""

    code = "provider_payment_not_found"
    message = "The payment provider has no payment with this reference."


class PaymentProviderUnavailable(AppError):
    """The caller asked for a provider this deployment does not offer."""

    status = 422
    code = "payment_provider_unavailable"
    message = "This payment provider is not available."


class PaymentProviderMisconfigured(AppError):
    """The provider is enabled but a key it needs is missing: an operator's mistake."""

    status = 503
    code = "payment_provider_misconfigured"
    message = "This payment provider is not configured; try again later."


class PaymentProvider(Protocol):
    name: str
    # False when `initialize` answers without any I/O (dev): the order route then calls it
    # on the database thread instead of handing it to the network pool.
    calls_network: bool

    def initialize(
        self,
        *,
        reference: str,
        amount: int,
        currency: str,
        email: str,
        callback_url: str,
        metadata: Mapping[str, str],
        expires_at: datetime | None = None,
    ) -> Checkout:
        """Where the buyer pays. `expires_at` (the order's) lets providers that can close
        their checkout early (Stripe: 30 minutes to 24 hours ahead) do so, which makes a
        payment after the order expired rarer; others ignore it."""
        ...

    def verify(self, reference: str, provider_payment_id: str | None = None) -> Verification:
        """The provider's current word on a payment. `provider_payment_id` (from `Checkout`
        or an earlier `Verification`) lets providers that index by their own id (Stripe)
        skip a search; Paystack and dev ignore it."""
        ...

    def refund(
        self,
        *,
        reference: str,
        provider_payment_id: str | None,
        amount: int,
        currency: str,
        idempotency_key: str,
    ) -> RefundResult: ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verifies the signature over the raw body (raises InvalidSignature) and parses."""
        ...


__all__ = [
    "Checkout",
    "InvalidSignature",
    "MalformedWebhook",
    "PaymentNotFound",
    "PaymentProvider",
    "PaymentProviderMisconfigured",
    "PaymentProviderUnavailable",
    "ProviderError",
    "RefundResult",
    "RefundStatus",
    "RefundUpdate",
    "Verification",
    "WebhookEvent",
]
