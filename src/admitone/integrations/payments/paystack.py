"""Paystack adapter: initialize, verify, refund over its REST API; `x-paystack-signature`
webhooks (hex HMAC-SHA512 of the raw body keyed with the secret API key).

References travel verbatim; Paystack accepts only alphanumerics and `-`, `.`, `=`, so any
other reference is refused before a call (the payments domain makes references that fit).
Event ids: Paystack sends none, so `event_id` is `<event>:<data.id>` (the transaction or
refund id, stable across Paystack's retries of the same event), falling back to
`<event>:<reference>` and, for a payload with neither, a SHA-256 of the raw body.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from admitone.integrations.payments._common import (
    ProviderHttp,
    currency_code,
    header,
    hmac_hex,
    load_json_object,
    minor_units,
)
from admitone.integrations.payments.base import (
    Checkout,
    InvalidSignature,
    MalformedWebhook,
    PaymentNotFound,
    PaymentStatus,
    RefundResult,
    RefundStatus,
    RefundUpdate,
    Verification,
    WebhookEvent,
)

SIGNATURE_HEADER = "x-paystack-signature"

_REFERENCE = re.compile(r"^[A-Za-z0-9.=-]{1,100}$")

# Paystack transaction statuses. `abandoned` is what an initialized, unpaid transaction
# reports, and the buyer can still pay it: pending, not failed.
_PAYMENT_STATUS: dict[str, PaymentStatus] = {
    "success": "succeeded",
    "failed": "failed",
    "reversed": "failed",
}
_REFUND_STATUS: dict[str, RefundStatus] = {"processed": "succeeded", "failed": "failed"}


def checked_reference(reference: str) -> str:
    if not _REFERENCE.match(reference):
        raise ValueError("payment references for Paystack must match [A-Za-z0-9.=-]{1,100}")
    return reference


class PaystackProvider:
    name = "paystack"
    calls_network = True

    def __init__(
        self, base_url: str, secret_key: str, timeout: float, connect_timeout: float
    ) -> None:
        self._secret = secret_key.encode()
        self._http = ProviderHttp(
            "paystack",
            base_url,
            secret_key,
            {"Authorization": f"Bearer {secret_key}", "Accept": "application/json"},
            timeout,
            connect_timeout,
        )

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
        theirs = checked_reference(reference)
        status, body = self._http.request(
            "POST",
            "/transaction/initialize",
            json_body={
                "email": email,
                "amount": amount,  # subunits: kobo, pesewas, cents
                "currency": currency.upper(),
                "reference": theirs,
                "callback_url": callback_url,
                "metadata": dict(metadata),
            },
        )
        data = self._data(status, body)
        url = data.get("authorization_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise self._http.error("answered without an authorization_url")
        if data.get("reference", theirs) != theirs:
            raise self._http.error("answered for another reference")
        access_code = data.get("access_code")
        return Checkout(
            reference=reference,
            checkout_url=url,
            provider_payment_id=access_code if isinstance(access_code, str) else None,
        )

    def verify(self, reference: str, provider_payment_id: str | None = None) -> Verification:
        theirs = checked_reference(reference)
        status, body = self._http.request("GET", f"/transaction/verify/{quote(theirs, safe='')}")
        if status in (400, 404) and "not found" in str(body.get("message", "")).lower():
            raise PaymentNotFound(provider="paystack")
        data = self._data(status, body)
        try:
            verification = _transaction(data)
        except ValueError as exc:
            raise self._http.error(f"answered a transaction we cannot read ({exc})") from exc
        if verification.reference != reference:
            raise self._http.error("answered for another reference")
        return verification

    def refund(
        self,
        *,
        reference: str,
        provider_payment_id: str | None,
        amount: int,
        currency: str,
        idempotency_key: str,
    ) -> RefundResult:
        """Paystack has no idempotency keys, so the key rides in `merchant_note` and a
        retry first looks for a refund carrying it: a refund job that timed out after
        Paystack accepted the refund finds it instead of refunding twice."""
        theirs = checked_reference(reference)
        note = f"admitone:{idempotency_key}"
        status, body = self._http.request("GET", "/refund", params={"reference": theirs})
        if status < 400 and isinstance(body.get("data"), list):
            for existing in body["data"]:
                if isinstance(existing, dict) and existing.get("merchant_note") == note:
                    return self._refund_result(existing)
        status, body = self._http.request(
            "POST",
            "/refund",
            json_body={
                # The transaction id when we have it (verify returns it); else the reference.
                "transaction": provider_payment_id
                if provider_payment_id and provider_payment_id.isdigit()
                else theirs,
                "amount": amount,
                "currency": currency.upper(),
                "merchant_note": note,
            },
        )
        return self._refund_result(self._data(status, body))

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        signature = header(headers, SIGNATURE_HEADER)
        if not signature:
            raise InvalidSignature(f"The {SIGNATURE_HEADER} header is missing.")
        expected = hmac_hex(self._secret, body, "sha512")
        if not hmac.compare_digest(
            expected.encode(), signature.strip().lower().encode("utf-8", "replace")
        ):
            raise InvalidSignature()
        event = load_json_object(body)
        kind, data = event.get("event"), event.get("data")
        if not isinstance(kind, str) or not kind or not isinstance(data, dict):
            raise MalformedWebhook("The Paystack webhook has no event or data.")
        payment = None
        refund = None
        try:
            if kind == "charge.success":
                payment = _transaction(data)
            elif kind.startswith("refund."):
                refund = _refund_update(data)
        except ValueError as exc:
            raise MalformedWebhook(f"The Paystack {kind} webhook is malformed: {exc}.") from exc
        return WebhookEvent(
            event_id=_event_id(kind, data, body),
            kind=kind,
            payment=payment,
            raw=event,
            refund=refund,
        )

    def _data(self, status: int, body: dict[str, Any]) -> dict[str, Any]:
        if status >= 400 or body.get("status") is not True:
            raise self._http.refused(body.get("message"), status)
        data = body.get("data")
        if not isinstance(data, dict):
            raise self._http.error("answered without data")
        return data

    def _refund_result(self, data: Mapping[str, Any]) -> RefundResult:
        refund_id = data.get("id")
        if not isinstance(refund_id, (int, str)) or isinstance(refund_id, bool):
            raise self._http.error("answered a refund without an id")
        return RefundResult(
            provider_refund_id=str(refund_id),
            status=_REFUND_STATUS.get(str(data.get("status")), "pending"),
        )


def _transaction(data: Mapping[str, Any]) -> Verification:
    reference = data.get("reference")
    if not isinstance(reference, str) or not reference:
        raise ValueError("reference is missing")
    transaction_id = data.get("id")
    return Verification(
        reference=reference,
        status=_PAYMENT_STATUS.get(str(data.get("status")), "pending"),
        amount=minor_units(data.get("amount")),
        currency=currency_code(data.get("currency")),
        provider_payment_id=str(transaction_id) if isinstance(transaction_id, int) else None,
        raw=dict(data),
    )


def _refund_update(data: Mapping[str, Any]) -> RefundUpdate:
    refund_id = data.get("id")
    if refund_id is None or isinstance(refund_id, (bool, dict, list)):
        raise ValueError("refund id is missing")
    transaction_reference = data.get("transaction_reference")
    return RefundUpdate(
        reference=transaction_reference
        if isinstance(transaction_reference, str) and transaction_reference
        else None,
        provider_refund_id=str(refund_id),
        status=_REFUND_STATUS.get(str(data.get("status")), "pending"),
        amount=minor_units(data.get("amount")),
        currency=currency_code(data.get("currency")),
    )


def _event_id(kind: str, data: Mapping[str, Any], body: bytes) -> str:
    for key in ("id", "reference", "transaction_reference"):
        value = data.get(key)
        if isinstance(value, (int, str)) and not isinstance(value, bool) and str(value):
            return f"{kind}:{value}"
    return f"{kind}:sha256:{hashlib.sha256(body).hexdigest()}"
