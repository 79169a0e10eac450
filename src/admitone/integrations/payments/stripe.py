"""Stripe adapter: Checkout Sessions (form-encoded, `Idempotency-Key`), verification by
session or PaymentIntent, refunds, and `Stripe-Signature` webhooks
(`t=<unix>,v1=<hex HMAC-SHA256 of "t." + body>`, any v1 may match, timestamp tolerance).

Our reference travels as the session's `client_reference_id` and as `metadata[reference]`
on both the session and its PaymentIntent, so every event we act on names it.
A payment's status comes from the object's state, not the event's name: after
`payment_intent.payment_failed` the buyer can still retry in the same Checkout, so it
stays `pending`; only a completed-and-paid session or a succeeded PaymentIntent is
`succeeded`, and only an expired session, a canceled PaymentIntent or
`checkout.session.async_payment_failed` is `failed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from admitone.core.clock import utcnow
from admitone.integrations.payments._common import (
    ProviderHttp,
    currency_code,
    header,
    load_json_object,
    minor_units,
    verify_timestamped_signature,
)
from admitone.integrations.payments.base import (
    Checkout,
    MalformedWebhook,
    PaymentNotFound,
    PaymentStatus,
    RefundResult,
    RefundStatus,
    RefundUpdate,
    Verification,
    WebhookEvent,
)

SIGNATURE_HEADER = "Stripe-Signature"

_REFUND_STATUS: dict[str, RefundStatus] = {
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}


class StripeProvider:
    name = "stripe"
    calls_network = True

    def __init__(
        self,
        base_url: str,
        secret_key: str,
        webhook_secret: str,
        tolerance_seconds: int,
        timeout: float,
        connect_timeout: float,
    ) -> None:
        self._webhook_secret = webhook_secret.encode()
        self._tolerance = tolerance_seconds
        self._http = ProviderHttp(
            "stripe",
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
        tagged = {**metadata, "reference": reference}
        form = {
            "mode": "payment",
            "client_reference_id": reference,
            "customer_email": email,
            "success_url": callback_url,
            "line_items[0][quantity]": "1",
            "line_items[0][price_data][currency]": currency.lower(),
            "line_items[0][price_data][unit_amount]": str(amount),
            "line_items[0][price_data][product_data][name]": metadata.get(
                "description", f"Payment {reference}"
            ),
        }
        # Keyed by our reference (and the expiry sent, which is part of the parameters):
        # a retried initialize returns the same session instead of an idempotency error.
        idempotency_key = f"admitone-checkout-{reference}"
        if expires_at is not None:
            form["expires_at"] = str(_session_expiry(expires_at))
            idempotency_key += f"-{form['expires_at']}"
        for key, value in tagged.items():
            form[f"metadata[{key}]"] = value
            form[f"payment_intent_data[metadata][{key}]"] = value
        status, body = self._http.request(
            "POST", "/v1/checkout/sessions", form=form, headers={"Idempotency-Key": idempotency_key}
        )
        session = self._object(status, body, "checkout.session")
        url, session_id = session.get("url"), session.get("id")
        if not isinstance(url, str) or not isinstance(session_id, str):
            raise self._http.error("answered a Checkout Session without id or url")
        return Checkout(reference=reference, checkout_url=url, provider_payment_id=session_id)

    def verify(self, reference: str, provider_payment_id: str | None = None) -> Verification:
        """By Checkout Session (`cs_...`) or PaymentIntent (`pi_...`) id when given; else by
        a PaymentIntent search on `metadata['reference']`, which finds only payments the
        buyer attempted and lags about a minute behind (Stripe's search is eventually
        consistent): pass the id returned by `initialize` whenever you have it."""
        if provider_payment_id and provider_payment_id.startswith("cs_"):
            status, body = self._http.request(
                "GET", f"/v1/checkout/sessions/{quote(provider_payment_id, safe='')}"
            )
            found = self._parsed(
                _session, self._object(status, body, "checkout.session"), "checkout.session"
            )
        elif provider_payment_id and provider_payment_id.startswith("pi_"):
            status, body = self._http.request(
                "GET", f"/v1/payment_intents/{quote(provider_payment_id, safe='')}"
            )
            found = self._parsed(
                _payment_intent,
                self._object(status, body, "payment_intent"),
                "payment_intent",
            )
        else:
            found = self._search(reference)
        if found is None or found.reference != reference:
            raise self._http.error("answered for another reference")
        return found

    def refund(
        self,
        *,
        reference: str,
        provider_payment_id: str | None,
        amount: int,
        currency: str,
        idempotency_key: str,
    ) -> RefundResult:
        intent = provider_payment_id if (provider_payment_id or "").startswith("pi_") else None
        if intent is None:
            intent = self.verify(reference, provider_payment_id).provider_payment_id
        if not intent or not intent.startswith("pi_"):
            raise self._http.error("has no captured payment to refund for this reference")
        status, body = self._http.request(
            "POST",
            "/v1/refunds",
            form={
                "payment_intent": intent,
                "amount": str(amount),
                "metadata[reference]": reference,
            },
            headers={"Idempotency-Key": idempotency_key},
        )
        refund = self._object(status, body, "refund")
        refund_id = refund.get("id")
        if not isinstance(refund_id, str):
            raise self._http.error("answered a refund without an id")
        if str(refund.get("currency", "")).upper() != currency.upper():
            raise self._http.error("refunded in another currency than the payment's")
        return RefundResult(
            provider_refund_id=refund_id,
            status=_REFUND_STATUS.get(str(refund.get("status")), "pending"),
        )

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        verify_timestamped_signature(
            body,
            header(headers, SIGNATURE_HEADER),
            self._webhook_secret,
            self._tolerance,
            SIGNATURE_HEADER,
        )
        event = load_json_object(body)
        event_id, kind, data = event.get("id"), event.get("type"), event.get("data")
        if not isinstance(event_id, str) or not event_id or not isinstance(kind, str):
            raise MalformedWebhook("The Stripe event has no id or type.")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise MalformedWebhook("The Stripe event has no data.object.")
        payment = None
        refund = None
        try:
            match obj.get("object"):
                case "checkout.session":
                    payment = _session(obj, kind)
                case "payment_intent":
                    payment = _payment_intent(obj)
                case "refund":
                    refund = _refund(obj)
        except ValueError as exc:
            raise MalformedWebhook(f"The Stripe {kind} event is malformed: {exc}.") from exc
        return WebhookEvent(event_id=event_id, kind=kind, payment=payment, raw=event, refund=refund)

    def _search(self, reference: str) -> Verification:
        escaped = reference.replace("\\", "\\\\").replace("'", "\\'")
        status, body = self._http.request(
            "GET",
            "/v1/payment_intents/search",
            params={"query": f"metadata['reference']:'{escaped}'"},
        )
        if status >= 400:
            raise self._http.refused(_message(body), status)
        intents = body.get("data")
        if not isinstance(intents, list):
            raise self._http.error("answered a search without data")
        found = [
            v
            for v in (
                self._parsed(_payment_intent, i, "payment_intent")
                for i in intents
                if isinstance(i, dict)
            )
            if v is not None and v.reference == reference
        ]
        if not found:
            raise PaymentNotFound(provider="stripe")
        # A buyer may have made several attempts; a succeeded one is the answer.
        order = {"succeeded": 0, "pending": 1, "failed": 2}
        return min(found, key=lambda v: order[v.status])

    def _object(self, status: int, body: dict[str, Any], kind: str) -> dict[str, Any]:
        if status == 404:
            raise PaymentNotFound(provider="stripe")
        if status >= 400:
            raise self._http.refused(_message(body), status)
        if body.get("object") != kind:
            raise self._http.error(f"answered something other than a {kind}")
        return body

    def _parsed(self, parse: Any, obj: dict[str, Any], what: str) -> Verification | None:
        try:
            result: Verification | None = parse(obj)
        except ValueError as exc:
            raise self._http.error(f"answered a {what} we cannot read ({exc})") from exc
        return result


def _session_expiry(expires_at: datetime) -> int:
    """The order's expiry, moved into Stripe's window (30 minutes to 24 hours ahead, with
    margin). A moved value is rounded to 5 minutes so that retries a few seconds apart
    send the same parameters under the same idempotency key."""
    now = utcnow().timestamp()
    wanted = int(expires_at.timestamp())
    earliest, latest = now + 31 * 60, now + 23 * 3600 + 50 * 60
    if wanted < earliest:
        return int(earliest + _ROUNDING - earliest % _ROUNDING)  # up: stays >= 31 minutes
    if wanted > latest:
        return int(latest - latest % _ROUNDING)  # down: stays <= 23 h 50 min
    return wanted


_ROUNDING = 300


def _message(body: Mapping[str, Any]) -> object:
    error = body.get("error")
    return error.get("message") if isinstance(error, dict) else None


def _reference(obj: Mapping[str, Any]) -> str | None:
    metadata = obj.get("metadata")
    candidates = [obj.get("client_reference_id")]
    if isinstance(metadata, dict):
        candidates.append(metadata.get("reference"))
    for value in candidates:
        if isinstance(value, str) and value:
            return value
    return None


def _session(obj: Mapping[str, Any], kind: str = "") -> Verification | None:
    reference = _reference(obj)
    if reference is None:
        return None  # not a session we created
    status: PaymentStatus = "pending"
    if obj.get("status") == "complete" and obj.get("payment_status") in (
        "paid",
        "no_payment_required",
    ):
        status = "succeeded"
    elif obj.get("status") == "expired" or kind == "checkout.session.async_payment_failed":
        status = "failed"
    intent = obj.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    return Verification(
        reference=reference,
        status=status,
        amount=minor_units(obj.get("amount_total"), "amount_total"),
        currency=currency_code(obj.get("currency")),
        provider_payment_id=intent if isinstance(intent, str) else _str(obj.get("id")),
        raw=dict(obj),
    )


def _payment_intent(obj: Mapping[str, Any]) -> Verification | None:
    reference = _reference(obj)
    if reference is None:
        return None
    state = obj.get("status")
    status: PaymentStatus = (
        "succeeded" if state == "succeeded" else "failed" if state == "canceled" else "pending"
    )
    # What was actually captured once it succeeded; what is asked for before.
    amount_field = "amount_received" if status == "succeeded" else "amount"
    return Verification(
        reference=reference,
        status=status,
        amount=minor_units(obj.get(amount_field), amount_field),
        currency=currency_code(obj.get("currency")),
        provider_payment_id=_str(obj.get("id")),
        raw=dict(obj),
    )


def _refund(obj: Mapping[str, Any]) -> RefundUpdate:
    refund_id = obj.get("id")
    if not isinstance(refund_id, str) or not refund_id:
        raise ValueError("refund id is missing")
    return RefundUpdate(
        reference=_reference(obj),
        provider_refund_id=refund_id,
        status=_REFUND_STATUS.get(str(obj.get("status")), "pending"),
        amount=minor_units(obj.get("amount")),
        currency=currency_code(obj.get("currency")),
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
