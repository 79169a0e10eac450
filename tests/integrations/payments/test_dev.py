"""The dev provider: checkout on our own page, webhooks signed and verified like Stripe's."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from pydantic import SecretStr
from ulid import ULID

from admitone.core.clock import utcnow
from admitone.integrations.payments.base import InvalidSignature, MalformedWebhook
from admitone.integrations.payments.dev import SIGNATURE_HEADER, DevProvider
from admitone.integrations.payments.registry import get_provider
from admitone.settings import Settings
from tests.integrations.payments.fakes import stripe_signature


def dev(settings: Settings, **overrides: object) -> DevProvider:
    payments = settings.payments.model_copy(update=overrides)
    provider = get_provider(settings.model_copy(update={"payments": payments}), "dev")
    assert isinstance(provider, DevProvider)
    return provider


def new_reference() -> str:
    return f"pay_{ULID()}"


def test_initialize_points_at_our_dev_checkout_page(settings: Settings) -> None:
    reference = new_reference()
    checkout = dev(settings).initialize(
        reference=reference,
        amount=150_000,
        currency="ngn",
        email="ada@example.com",
        callback_url="http://testserver/return",
        metadata={},
    )
    assert checkout.checkout_url == f"http://testserver/support/v1/payments/dev/{reference}"
    assert checkout.reference == reference


def test_an_approval_round_trips_through_sign_and_parse(settings: Settings) -> None:
    provider = dev(settings)
    reference = new_reference()
    body, headers = provider.sign_webhook(
        provider.build_event(reference, "succeeded", 150_000, "NGN")
    )

    event = provider.parse_webhook(body, headers)

    assert headers["Content-Type"] == "application/json"
    assert headers[SIGNATURE_HEADER].startswith("t=")
    assert event.kind == "payment.succeeded"
    assert event.event_id == json.loads(body)["id"]
    assert event.payment is not None
    assert (event.payment.reference, event.payment.status) == (reference, "succeeded")
    assert (event.payment.amount, event.payment.currency) == (150_000, "NGN")


def test_sign_webhook_fills_in_an_event_id_and_time(settings: Settings) -> None:
    provider = dev(settings)
    body, headers = provider.sign_webhook({"type": "ping", "data": {}})
    sent = json.loads(body)
    assert sent["id"].startswith("devevt_")
    assert isinstance(sent["created"], int)
    assert provider.parse_webhook(body, headers).payment is None


def test_verify_answers_what_was_signed_in_this_process(settings: Settings) -> None:
    provider = dev(settings)
    approved, declined, untouched = new_reference(), new_reference(), new_reference()
    for reference in (approved, declined, untouched):
        provider.initialize(
            reference=reference,
            amount=5_000,
            currency="GHS",
            email="a@example.com",
            callback_url="http://testserver/r",
            metadata={},
        )
    provider.sign_webhook(provider.build_event(approved, "succeeded", 5_000, "GHS"))
    provider.sign_webhook(provider.build_event(declined, "failed", 5_000, "GHS"))

    assert provider.verify(approved).status == "succeeded"
    assert provider.verify(declined).status == "failed"
    pending = provider.verify(untouched)
    assert (pending.status, pending.amount, pending.currency) == ("pending", 5_000, "GHS")


def test_verify_of_a_reference_this_process_never_saw_is_pending_with_no_currency(
    settings: Settings,
) -> None:
    unknown = dev(settings).verify(new_reference())
    assert (unknown.status, unknown.amount, unknown.currency) == ("pending", 0, "XXX")


def test_a_refund_retried_with_the_same_key_is_the_same_refund(settings: Settings) -> None:
    provider = dev(settings)
    kwargs = {"reference": "pay_1", "provider_payment_id": None, "amount": 10, "currency": "NGN"}
    first = provider.refund(**kwargs, idempotency_key="a")  # type: ignore[arg-type]
    assert first == provider.refund(**kwargs, idempotency_key="a")  # type: ignore[arg-type]
    assert first != provider.refund(**kwargs, idempotency_key="b")  # type: ignore[arg-type]
    assert first.status == "succeeded"


def test_a_tampered_dev_webhook_is_refused(settings: Settings) -> None:
    provider = dev(settings)
    body, headers = provider.sign_webhook(
        provider.build_event(new_reference(), "succeeded", 100, "NGN")
    )
    with pytest.raises(InvalidSignature):
        provider.parse_webhook(body.replace(b'"amount":100', b'"amount":1'), headers)


def test_a_dev_webhook_signed_with_another_secret_is_refused(settings: Settings) -> None:
    other = dev(settings, dev_webhook_secret=SecretStr("another-secret"))
    body, headers = other.sign_webhook(other.build_event("pay_1", "succeeded", 100, "NGN"))
    with pytest.raises(InvalidSignature):
        dev(settings).parse_webhook(body, headers)


def test_a_replayed_dev_webhook_older_than_the_tolerance_is_refused(settings: Settings) -> None:
    provider = dev(settings)
    body, headers = provider.sign_webhook(provider.build_event("pay_1", "succeeded", 1, "NGN"))
    with (
        time_machine.travel(utcnow() + timedelta(seconds=301), tick=False),
        pytest.raises(InvalidSignature, match="tolerance"),
    ):
        provider.parse_webhook(body, headers)
    with time_machine.travel(utcnow() + timedelta(seconds=290), tick=False):
        assert provider.parse_webhook(body, headers).kind == "payment.succeeded"


def test_a_dev_webhook_without_its_signature_header_is_refused(settings: Settings) -> None:
    with pytest.raises(InvalidSignature, match=SIGNATURE_HEADER):
        dev(settings).parse_webhook(b"{}", {"Content-Type": "application/json"})


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'{"type": "payment.succeeded", "data": {}}',
        b'{"id": "e1", "type": "payment.succeeded"}',
        b'{"id": "e1", "type": "payment.succeeded", "data": {"reference": "p", '
        b'"status": "succeeded", "amount": -5, "currency": "NGN"}}',
        b'{"id": "e1", "type": "payment.succeeded", "data": {"reference": "p", '
        b'"status": "paid", "amount": 5, "currency": "NGN"}}',
        b'{"id": "e1", "type": "payment.succeeded", "data": {"reference": "p", '
        b'"status": "succeeded", "amount": true, "currency": "NGN"}}',
    ],
)
def test_a_correctly_signed_but_malformed_dev_webhook_is_malformed(
    settings: Settings, body: bytes
) -> None:
    headers = {SIGNATURE_HEADER: stripe_signature(body, "dev-webhook-secret")}
    with pytest.raises(MalformedWebhook):
        dev(settings).parse_webhook(body, headers)
