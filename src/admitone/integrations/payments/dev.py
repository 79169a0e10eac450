"""The `dev` payment provider: no network, no keys; its checkout page is ours.

It plays both sides of a real provider so the whole payment path runs locally:
- as the *provider*, `build_event` + `sign_webhook` produce the body and the
  `X-Dev-Signature` header a provider would POST to our webhook route, and an in-process
  ledger remembers what was initialized and which outcome was signed;
- as *our adapter*, `parse_webhook` verifies that header exactly as for Stripe
  (`t=<unix>,v1=<hex HMAC-SHA256 of "t." + body>`, constant time, timestamp tolerance).

`verify(reference)` answers from the ledger: the outcome signed by `sign_webhook` in this
process, else `pending` (with the initialized amount, or amount 0 and currency `XXX`,
ISO 4217's "no currency", when this process never saw the reference). `pending` is the
safe answer: reconciliation leaves the payment alone and order expiry takes over.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from admitone.core.clock import utcnow
from admitone.integrations.payments._common import (
    currency_code,
    header,
    load_json_object,
    minor_units,
    sign_timestamped,
    verify_timestamped_signature,
)
from admitone.integrations.payments.base import (
    Checkout,
    MalformedWebhook,
    PaymentStatus,
    RefundResult,
    Verification,
    WebhookEvent,
)

SIGNATURE_HEADER = "X-Dev-Signature"
PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"

_LEDGER_SIZE = 10_000


class _Ledger:
    """The dev provider's own records, shared by every DevProvider in the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, Verification] = OrderedDict()

    def put(self, entry: Verification) -> None:
        with self._lock:
            self._entries[entry.reference] = entry
            self._entries.move_to_end(entry.reference)
            while len(self._entries) > _LEDGER_SIZE:
                self._entries.popitem(last=False)

    def get(self, reference: str) -> Verification | None:
        with self._lock:
            return self._entries.get(reference)


_ledger = _Ledger()


class DevProvider:
    name = "dev"
    calls_network = False

    def __init__(self, base_url: str, webhook_secret: str, tolerance_seconds: int) -> None:
        self._base_url = base_url.rstrip("/")
        self._secret = webhook_secret.encode()
        self._tolerance = tolerance_seconds

    # -- the provider side ----------------------------------------------------------------

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
        _ledger.put(
            Verification(
                reference=reference,
                status="pending",
                amount=amount,
                currency=currency.upper(),
                provider_payment_id=_payment_id(reference),
            )
        )
        return Checkout(
            reference=reference,
            checkout_url=f"{self._base_url}/support/v1/payments/dev/{quote(reference, safe='')}",
            provider_payment_id=_payment_id(reference),
        )

    def verify(self, reference: str, provider_payment_id: str | None = None) -> Verification:
        known = _ledger.get(reference)
        if known is not None:
            return known
        return Verification(reference=reference, status="pending", amount=0, currency="XXX")

    def refund(
        self,
        *,
        reference: str,
        provider_payment_id: str | None,
        amount: int,
        currency: str,
        idempotency_key: str,
    ) -> RefundResult:
        # Same key, same refund id: a retried refund job sees the refund it already made.
        digest = hashlib.sha256(f"{reference}:{idempotency_key}".encode()).hexdigest()
        return RefundResult(provider_refund_id=f"devref_{digest[:24]}", status="succeeded")

    def build_event(
        self,
        reference: str,
        outcome: Literal["succeeded", "failed"],
        amount: int,
        currency: str,
    ) -> dict[str, Any]:
        """The webhook event the dev checkout page's approve/decline sends."""
        return {
            "id": f"devevt_{uuid.uuid4().hex}",
            "type": PAYMENT_SUCCEEDED if outcome == "succeeded" else PAYMENT_FAILED,
            "created": int(utcnow().timestamp()),
            "data": {
                "reference": reference,
                "status": outcome,
                "amount": amount,
                "currency": currency.upper(),
                "provider_payment_id": _payment_id(reference),
            },
        }

    def sign_webhook(self, event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """Serializes `event` (adding `id` and `created` when missing) and signs it like a
        provider: returns the raw body and the headers to POST to the webhook route.
        A payment outcome in the event is recorded for `verify`."""
        event = {
            "id": f"devevt_{uuid.uuid4().hex}",
            "created": int(utcnow().timestamp()),
            **event,
        }
        body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
        signature = sign_timestamped(body, self._secret, int(utcnow().timestamp()))
        data = event.get("data")
        if isinstance(data, dict):
            # Data that is not a payment outcome leaves nothing for verify to remember.
            with contextlib.suppress(ValueError):
                _ledger.put(_verification(data))
        return body, {"Content-Type": "application/json", SIGNATURE_HEADER: signature}

    # -- our side ---------------------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        verify_timestamped_signature(
            body,
            header(headers, SIGNATURE_HEADER),
            self._secret,
            self._tolerance,
            SIGNATURE_HEADER,
        )
        event = load_json_object(body)
        event_id, kind, data = event.get("id"), event.get("type"), event.get("data")
        if not isinstance(event_id, str) or not event_id or not isinstance(kind, str):
            raise MalformedWebhook("The dev webhook has no event id or type.")
        payment = None
        if kind in (PAYMENT_SUCCEEDED, PAYMENT_FAILED):
            if not isinstance(data, dict):
                raise MalformedWebhook("The dev payment webhook has no data.")
            try:
                payment = _verification(data)
            except ValueError as exc:
                raise MalformedWebhook(f"The dev payment webhook is malformed: {exc}.") from exc
        return WebhookEvent(event_id=event_id, kind=kind, payment=payment, raw=event)


def _payment_id(reference: str) -> str:
    return f"devpay_{reference}"


def _verification(data: Mapping[str, Any]) -> Verification:
    reference = data.get("reference")
    status = data.get("status")
    if not isinstance(reference, str) or not reference:
        raise ValueError("reference is missing")
    if status not in ("pending", "succeeded", "failed"):
        raise ValueError("status is not pending, succeeded or failed")
    checked: PaymentStatus = status
    payment_id = data.get("provider_payment_id")
    return Verification(
        reference=reference,
        status=checked,
        amount=minor_units(data.get("amount")),
        currency=currency_code(data.get("currency")),
        provider_payment_id=payment_id if isinstance(payment_id, str) else None,
        raw=dict(data),
    )
