"""The Stripe adapter against a local server speaking Stripe's API and signing events."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from admitone.core.errors import ProviderError
from admitone.integrations.payments.base import (
    InvalidSignature,
    MalformedWebhook,
    PaymentNotFound,
)
from admitone.integrations.payments.registry import get_provider
from admitone.integrations.payments.stripe import StripeProvider
from admitone.settings import Settings
from tests.integrations.payments.fakes import FakeStripe, stripe_signature

REF = "pay_01JDZ8K3M4N5P6Q7R8S9T0V1W2"


def provider_for(settings: Settings, fake: FakeStripe, **overrides: object) -> StripeProvider:
    payments = fake.configure(settings.payments).model_copy(update=overrides)
    provider = get_provider(settings.model_copy(update={"payments": payments}), "stripe")
    assert isinstance(provider, StripeProvider)
    return provider


def start(provider: StripeProvider, reference: str = REF, amount: int = 4_999) -> str:
    checkout = provider.initialize(
        reference=reference,
        amount=amount,
        currency="USD",
        email="ada@example.com",
        callback_url="https://app.admitone.test/orders/ord_1/return",
        metadata={"order_id": "ord_01JDZ8K3M4N5P6Q7R8S9T0V1W2", "description": "2 tickets"},
    )
    assert checkout.reference == reference
    assert checkout.provider_payment_id is not None
    return checkout.provider_payment_id


def test_initialize_creates_a_checkout_session_form_encoded_with_an_idempotency_key(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(settings, fake_stripe)
    session_id = start(provider)

    sent = fake_stripe.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/checkout/sessions")
    assert sent.headers["authorization"] == f"Bearer {fake_stripe.secret_key}"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.headers["idempotency-key"] == f"admitone-checkout-{REF}"
    form = sent.form()
    assert form["mode"] == "payment"
    assert form["client_reference_id"] == REF
    assert form["customer_email"] == "ada@example.com"
    assert form["line_items[0][price_data][unit_amount]"] == "4999"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["line_items[0][price_data][product_data][name]"] == "2 tickets"
    assert form["metadata[reference]"] == REF
    assert form["payment_intent_data[metadata][reference]"] == REF
    assert session_id.startswith("cs_test_")
    assert session_id in fake_stripe.sessions


@pytest.mark.parametrize(
    ("order_expires_in", "session_expires_in"),
    [
        (timedelta(minutes=10), timedelta(minutes=31)),
        (timedelta(hours=2), timedelta(hours=2)),
        (timedelta(days=3), timedelta(hours=23, minutes=50)),
    ],
)
def test_the_session_closes_with_the_order_within_stripes_window(
    settings: Settings,
    fake_stripe: FakeStripe,
    order_expires_in: timedelta,
    session_expires_in: timedelta,
) -> None:
    now = datetime.now(UTC)
    checkout = provider_for(settings, fake_stripe).initialize(
        reference=REF,
        amount=100,
        currency="EUR",
        email="a@example.com",
        callback_url="https://app.admitone.test/r",
        metadata={},
        expires_at=now + order_expires_in,
    )
    sent = int(fake_stripe.requests[-1].form()["expires_at"])
    assert abs(sent - (now + session_expires_in).timestamp()) <= 300
    assert checkout.provider_payment_id is not None
    assert fake_stripe.sessions[checkout.provider_payment_id]["expires_at"] == sent


def test_a_retried_initialize_with_a_short_order_expiry_returns_the_same_session(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(settings, fake_stripe)
    soon = datetime.now(UTC) + timedelta(minutes=5)
    ids = {
        provider.initialize(
            reference=REF,
            amount=100,
            currency="EUR",
            email="a@example.com",
            callback_url="https://app.admitone.test/r",
            metadata={},
            expires_at=soon,
        ).provider_payment_id
        for _ in range(2)
    }
    assert len(ids) == 1
    assert len(fake_stripe.sessions) == 1


def test_a_retried_initialize_returns_the_same_session(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(settings, fake_stripe)
    assert start(provider) == start(provider)
    assert len(fake_stripe.sessions) == 1


def test_verify_by_session_is_pending_until_paid_then_succeeded_with_exact_amount(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(settings, fake_stripe)
    session_id = start(provider, amount=123_456)

    assert provider.verify(REF, session_id).status == "pending"
    fake_stripe.pay(REF)
    paid = provider.verify(REF, session_id)

    assert (paid.reference, paid.status, paid.amount, paid.currency) == (
        REF,
        "succeeded",
        123_456,
        "USD",
    )
    assert paid.provider_payment_id == fake_stripe.sessions[session_id]["payment_intent"]


def test_verify_by_payment_intent_and_by_search_agree(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(settings, fake_stripe)
    session_id = start(provider)
    fake_stripe.pay(REF)
    intent_id = fake_stripe.sessions[session_id]["payment_intent"]

    by_intent = provider.verify(REF, intent_id)
    by_search = provider.verify(REF)

    assert by_intent.status == by_search.status == "succeeded"
    assert by_intent.amount == by_search.amount == 4_999
    assert by_search.provider_payment_id == intent_id
    search = fake_stripe.requests[-1]
    assert search.path == "/v1/payment_intents/search"
    assert search.query == {"query": f"metadata['reference']:'{REF}'"}


def test_verify_without_an_id_before_any_attempt_is_payment_not_found(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(settings, fake_stripe)
    start(provider)
    with pytest.raises(PaymentNotFound):
        provider.verify(REF)


def test_verify_of_an_unknown_session_is_payment_not_found(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    with pytest.raises(PaymentNotFound):
        provider_for(settings, fake_stripe).verify(REF, "cs_test_nope")


def test_an_expired_session_verifies_as_failed(settings: Settings, fake_stripe: FakeStripe) -> None:
    provider = provider_for(settings, fake_stripe)
    session_id = start(provider)
    fake_stripe.expire(session_id)
    assert provider.verify(REF, session_id).status == "failed"


def test_a_session_answered_for_another_reference_is_a_provider_error(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(settings, fake_stripe)
    session_id = start(provider)
    with pytest.raises(ProviderError, match="another reference"):
        provider.verify("pay_someone_else", session_id)


def test_refund_from_the_session_id_refunds_its_payment_intent_once_per_key(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(settings, fake_stripe)
    session_id = start(provider, amount=10_000)
    fake_stripe.pay(REF)

    first = provider.refund(
        reference=REF,
        provider_payment_id=session_id,
        amount=2_500,
        currency="USD",
        idempotency_key="rfd_01",
    )
    again = provider.refund(
        reference=REF,
        provider_payment_id=session_id,
        amount=2_500,
        currency="USD",
        idempotency_key="rfd_01",
    )

    assert first.status == "succeeded"
    assert again == first
    assert len(fake_stripe.refunds) == 1
    sent = fake_stripe.requests[-1]
    assert sent.path == "/v1/refunds"
    assert sent.headers["idempotency-key"] == "rfd_01"
    assert sent.form() == {
        "payment_intent": fake_stripe.sessions[session_id]["payment_intent"],
        "amount": "2500",
        "metadata[reference]": REF,
    }


def test_a_refund_larger_than_what_is_left_carries_stripes_reason(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(settings, fake_stripe)
    session_id = start(provider, amount=1_000)
    fake_stripe.pay(REF)
    with pytest.raises(ProviderError) as caught:
        provider.refund(
            reference=REF,
            provider_payment_id=session_id,
            amount=1_001,
            currency="USD",
            idempotency_key="k",
        )
    assert "greater than unrefunded amount" in caught.value.detail
    assert caught.value.extra["provider_status"] == 400


def test_a_refund_in_another_currency_than_the_payment_is_a_provider_error(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(settings, fake_stripe)
    session_id = start(provider, amount=1_000)
    fake_stripe.pay(REF)
    with pytest.raises(ProviderError, match="another currency"):
        provider.refund(
            reference=REF,
            provider_payment_id=session_id,
            amount=100,
            currency="NGN",
            idempotency_key="k",
        )


def test_a_wrong_key_is_a_provider_error_that_does_not_leak_it(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(
        settings, fake_stripe, stripe_secret_key=SecretStr("sk_test_wrongwrongwrong")
    )
    with pytest.raises(ProviderError) as caught:
        start(provider)
    assert "credentials" in caught.value.detail
    assert "wrongwrong" not in json.dumps(caught.value.problem())


def test_a_stripe_5xx_and_a_timeout_are_provider_errors(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(settings, fake_stripe, http_timeout_seconds=0.3)
    fake_stripe.fail_next(500)
    with pytest.raises(ProviderError, match=r"Stripe failed \(HTTP 500\)"):
        start(provider)
    fake_stripe.hang_next(3.0)
    with pytest.raises(ProviderError, match="did not answer in time"):
        provider.verify(REF, "cs_test_x")


# --- webhooks ----------------------------------------------------------------------------


def test_checkout_session_completed_verifies_and_carries_the_payment(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(settings, fake_stripe)
    start(provider, amount=7_777)
    body, headers = fake_stripe.pay(REF)

    event = provider.parse_webhook(body, headers)

    assert event.event_id == json.loads(body)["id"]
    assert event.event_id.startswith("evt_")
    assert event.kind == "checkout.session.completed"
    assert event.payment is not None
    assert (event.payment.reference, event.payment.status) == (REF, "succeeded")
    assert (event.payment.amount, event.payment.currency) == (7_777, "USD")
    assert event.payment.provider_payment_id is not None
    assert event.payment.provider_payment_id.startswith("pi_")


def test_a_declined_attempt_leaves_the_payment_pending_because_the_buyer_can_retry(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(settings, fake_stripe)
    start(provider)
    event = provider.parse_webhook(*fake_stripe.fail_attempt(REF))
    assert event.kind == "payment_intent.payment_failed"
    assert event.payment is not None
    assert event.payment.status == "pending"


def test_async_payment_failed_and_expired_sessions_are_failed(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = provider_for(settings, fake_stripe)
    session_id = start(provider)
    session = fake_stripe.sessions[session_id] | {"status": "complete"}
    session = {k: v for k, v in session.items() if not k.startswith("_")}
    failed = provider.parse_webhook(
        *fake_stripe.event("checkout.session.async_payment_failed", session)
    )
    expired = provider.parse_webhook(*fake_stripe.expire(session_id))
    assert failed.payment is not None
    assert failed.payment.status == "failed"
    assert expired.payment is not None
    assert expired.payment.status == "failed"


def test_a_refund_event_carries_the_refund(settings: Settings, fake_stripe: FakeStripe) -> None:
    provider = provider_for(settings, fake_stripe)
    session_id = start(provider, amount=5_000)
    fake_stripe.pay(REF)
    result = provider.refund(
        reference=REF,
        provider_payment_id=session_id,
        amount=5_000,
        currency="USD",
        idempotency_key="k",
    )
    refund = fake_stripe.refunds[result.provider_refund_id]

    event = provider.parse_webhook(*fake_stripe.event("refund.updated", refund))

    assert event.payment is None
    assert event.refund is not None
    assert (event.refund.reference, event.refund.provider_refund_id) == (
        REF,
        result.provider_refund_id,
    )
    assert (event.refund.status, event.refund.amount, event.refund.currency) == (
        "succeeded",
        5_000,
        "USD",
    )


def test_an_event_about_a_session_we_did_not_create_has_no_payment(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    body, headers = fake_stripe.event(
        "checkout.session.completed",
        {
            "id": "cs_other",
            "object": "checkout.session",
            "status": "complete",
            "payment_status": "paid",
            "amount_total": 100,
            "currency": "usd",
            "metadata": {},
        },
    )
    event = provider_for(settings, fake_stripe).parse_webhook(body, headers)
    assert event.payment is None


def test_any_v1_signature_may_match_during_secret_rotation(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    body, _ = fake_stripe.event("charge.refunded", {"object": "charge", "id": "ch_1"})
    header = stripe_signature(body, fake_stripe.webhook_secret, extra_v1=["ab" * 32])
    assert header.count("v1=") == 2
    event = provider_for(settings, fake_stripe).parse_webhook(body, {"stripe-signature": header})
    assert event.kind == "charge.refunded"


@pytest.mark.parametrize("age", [-290, 290])
def test_a_timestamp_within_the_tolerance_is_accepted(
    settings: Settings, fake_stripe: FakeStripe, age: int
) -> None:
    body, headers = fake_stripe.event(
        "charge.refunded", {"object": "charge"}, timestamp=int(time.time()) - age
    )
    assert provider_for(settings, fake_stripe).parse_webhook(body, headers).kind


@pytest.mark.parametrize("age", [-400, 301, 86_400])
def test_a_stale_or_future_timestamp_is_refused(
    settings: Settings, fake_stripe: FakeStripe, age: int
) -> None:
    body, headers = fake_stripe.event(
        "charge.refunded", {"object": "charge"}, timestamp=int(time.time()) - age
    )
    with pytest.raises(InvalidSignature, match="tolerance"):
        provider_for(settings, fake_stripe).parse_webhook(body, headers)


def test_the_tolerance_comes_from_settings(settings: Settings, fake_stripe: FakeStripe) -> None:
    body, headers = fake_stripe.event(
        "charge.refunded", {"object": "charge"}, timestamp=int(time.time()) - 60
    )
    strict = provider_for(settings, fake_stripe, webhook_tolerance_seconds=30)
    with pytest.raises(InvalidSignature):
        strict.parse_webhook(body, headers)


def test_a_tampered_body_is_refused(settings: Settings, fake_stripe: FakeStripe) -> None:
    provider = provider_for(settings, fake_stripe)
    start(provider, amount=100)
    body, headers = fake_stripe.pay(REF)
    tampered = body.replace(b'"amount_total": 100', b'"amount_total": 1')
    assert tampered != body
    with pytest.raises(InvalidSignature):
        provider.parse_webhook(tampered, headers)


def test_an_event_signed_with_another_secret_is_refused(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    body, headers = fake_stripe.event("charge.refunded", {"object": "charge"}, secret="whsec_x")
    with pytest.raises(InvalidSignature):
        provider_for(settings, fake_stripe).parse_webhook(body, headers)


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", "v1=abc", "t=notanumber,v1=abc", "t=1700000000", "t=1,v0=a"],
)
def test_a_missing_or_unparseable_signature_header_is_refused(
    settings: Settings, fake_stripe: FakeStripe, header: str | None
) -> None:
    headers = {} if header is None else {"Stripe-Signature": header}
    with pytest.raises(InvalidSignature):
        provider_for(settings, fake_stripe).parse_webhook(b"{}", headers)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'"a string"',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"id": "evt_1", "type": "checkout.session.completed"}',
        b'{"type": "x", "data": {"object": {}}}',
        b'{"id": "evt_1", "type": "checkout.session.completed", "data": {"object": '
        b'{"object": "checkout.session", "client_reference_id": "pay_1", "status": "complete",'
        b' "payment_status": "paid", "amount_total": 10.0, "currency": "usd"}}}',
        b'{"id": "evt_1", "type": "refund.updated", "data": {"object": '
        b'{"object": "refund", "status": "succeeded", "amount": 10, "currency": "usd"}}}',
    ],
)
def test_a_correctly_signed_but_malformed_event_is_a_malformed_webhook(
    settings: Settings, fake_stripe: FakeStripe, body: bytes
) -> None:
    headers = fake_stripe.sign(body)
    with pytest.raises(MalformedWebhook):
        provider_for(settings, fake_stripe).parse_webhook(body, headers)
