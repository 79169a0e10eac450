"""The Paystack adapter against a local server speaking Paystack's API and webhooks."""

from __future__ import annotations

import json
import socket

import pytest
from pydantic import SecretStr

from admitone.core.errors import ProviderError
from admitone.integrations.payments.base import (
    InvalidSignature,
    MalformedWebhook,
    PaymentNotFound,
)
from admitone.integrations.payments.paystack import PaystackProvider
from admitone.integrations.payments.registry import get_provider
from admitone.settings import Settings
from tests.integrations.payments.fakes import FakePaystack, paystack_signature

REF = "pay-01JDZ8K3M4N5P6Q7R8S9T0V1W2"


def provider_for(settings: Settings, fake: FakePaystack, **overrides: object) -> PaystackProvider:
    payments = fake.configure(settings.payments).model_copy(update=overrides)
    provider = get_provider(settings.model_copy(update={"payments": payments}), "paystack")
    assert isinstance(provider, PaystackProvider)
    return provider


def start(provider: PaystackProvider, reference: str = REF, amount: int = 150_000) -> str:
    checkout = provider.initialize(
        reference=reference,
        amount=amount,
        currency="NGN",
        email="ada@example.com",
        callback_url="https://app.admitone.test/orders/ord_1/return",
        metadata={"order_id": "ord_01JDZ8K3M4N5P6Q7R8S9T0V1W2"},
    )
    return checkout.checkout_url


def test_initialize_posts_subunits_and_the_reference_with_the_bearer_key(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    provider = provider_for(settings, fake_paystack)
    url = start(provider)

    assert url.startswith("https://checkout.paystack.com/")
    sent = fake_paystack.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/transaction/initialize")
    assert sent.headers["authorization"] == f"Bearer {fake_paystack.secret_key}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == {
        "email": "ada@example.com",
        "amount": 150_000,
        "currency": "NGN",
        "reference": REF,
        "callback_url": "https://app.admitone.test/orders/ord_1/return",
        "metadata": {"order_id": "ord_01JDZ8K3M4N5P6Q7R8S9T0V1W2"},
    }


def test_verify_reports_a_paid_transaction_with_exact_amount_and_currency(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    provider = provider_for(settings, fake_paystack)
    start(provider, amount=1_234_567)
    fake_paystack.pay(REF)

    verification = provider.verify(REF)

    assert verification.reference == REF
    assert verification.status == "succeeded"
    assert verification.amount == 1_234_567
    assert verification.currency == "NGN"
    txn_id = fake_paystack.transactions[REF]["id"]
    assert verification.provider_payment_id == str(txn_id)
    assert fake_paystack.requests[-1].path == f"/transaction/verify/{REF}"


def test_verify_of_an_unpaid_abandoned_transaction_is_pending(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    provider = provider_for(settings, fake_paystack)
    start(provider)
    assert provider.verify(REF).status == "pending"


def test_verify_of_a_failed_charge_is_failed(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    provider = provider_for(settings, fake_paystack)
    start(provider)
    fake_paystack.pay(REF, status="failed")
    assert provider.verify(REF).status == "failed"


def test_verify_of_an_unknown_reference_is_payment_not_found(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    with pytest.raises(PaymentNotFound) as caught:
        provider_for(settings, fake_paystack).verify("pay-unknown")
    assert caught.value.code == "provider_payment_not_found"


def test_a_duplicate_reference_is_a_provider_error_carrying_paystacks_reason(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    provider = provider_for(settings, fake_paystack)
    start(provider)
    with pytest.raises(ProviderError) as caught:
        start(provider)
    assert caught.value.status == 502
    assert "Duplicate Transaction Reference" in caught.value.detail
    assert caught.value.extra == {"provider": "paystack", "provider_status": 400}


def test_a_reference_paystack_cannot_carry_is_refused_before_any_call(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    with pytest.raises(ValueError, match="references for Paystack"):
        start(provider_for(settings, fake_paystack), reference="pay_with_underscore")
    assert fake_paystack.requests == []


def test_refund_is_queued_and_a_retry_with_the_same_key_finds_it_instead_of_refunding_twice(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    provider = provider_for(settings, fake_paystack)
    start(provider)
    fake_paystack.pay(REF)
    paid = provider.verify(REF)

    first = provider.refund(
        reference=REF,
        provider_payment_id=paid.provider_payment_id,
        amount=50_000,
        currency="NGN",
        idempotency_key="rfd_1",
    )
    again = provider.refund(
        reference=REF,
        provider_payment_id=paid.provider_payment_id,
        amount=50_000,
        currency="NGN",
        idempotency_key="rfd_1",
    )
    other = provider.refund(
        reference=REF,
        provider_payment_id=None,
        amount=100_000,
        currency="NGN",
        idempotency_key="rfd_2",
    )

    assert first.status == "pending"
    assert again == first
    assert other.provider_refund_id != first.provider_refund_id
    assert [r["amount"] for r in fake_paystack.refunds] == [50_000, 100_000]
    posted = [
        r.json() for r in fake_paystack.requests if r.method == "POST" and r.path == "/refund"
    ]
    assert posted[0] == {
        "transaction": paid.provider_payment_id,
        "amount": 50_000,
        "currency": "NGN",
        "merchant_note": "admitone:rfd_1",
    }
    assert posted[1]["transaction"] == REF


def test_a_refund_beyond_the_paid_amount_is_a_provider_error(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    provider = provider_for(settings, fake_paystack)
    start(provider, amount=10_000)
    fake_paystack.pay(REF)
    with pytest.raises(ProviderError, match="cannot be more than"):
        provider.refund(
            reference=REF,
            provider_payment_id=None,
            amount=10_001,
            currency="NGN",
            idempotency_key="k",
        )


def test_a_wrong_secret_key_is_a_provider_error_that_does_not_leak_the_key(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    provider = provider_for(settings, fake_paystack, paystack_secret_key=SecretStr("sk_wrong_1"))
    with pytest.raises(ProviderError) as caught:
        start(provider)
    assert "credentials" in caught.value.detail
    assert "sk_wrong_1" not in caught.value.detail
    assert "sk_wrong_1" not in json.dumps(caught.value.problem())


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_paystack_5xx_is_a_provider_error(
    settings: Settings, fake_paystack: FakePaystack, status: int
) -> None:
    fake_paystack.fail_next(status)
    with pytest.raises(ProviderError) as caught:
        start(provider_for(settings, fake_paystack))
    assert caught.value.detail == f"Paystack failed (HTTP {status})."


def test_a_paystack_that_does_not_answer_in_time_is_a_provider_error(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    fake_paystack.hang_next(3.0)
    provider = provider_for(settings, fake_paystack, http_timeout_seconds=0.3)
    with pytest.raises(ProviderError, match="did not answer in time"):
        provider.verify(REF)


def test_an_unreachable_paystack_is_a_provider_error(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    provider = provider_for(
        settings, fake_paystack, paystack_base_url=f"http://127.0.0.1:{closed_port}"
    )
    with pytest.raises(ProviderError, match="could not be reached"):
        provider.verify(REF)


def test_an_answer_that_is_not_json_is_a_provider_error(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    fake_paystack.fail_next(200, body=b"<html>maintenance</html>")
    with pytest.raises(ProviderError, match="not JSON"):
        provider_for(settings, fake_paystack).verify(REF)


# --- webhooks ----------------------------------------------------------------------------


def test_charge_success_webhook_verifies_and_carries_the_payment(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    provider = provider_for(settings, fake_paystack)
    start(provider, amount=250_050)
    body, headers = fake_paystack.pay(REF)

    event = provider.parse_webhook(body, headers)

    txn_id = fake_paystack.transactions[REF]["id"]
    assert event.kind == "charge.success"
    assert event.event_id == f"charge.success:{txn_id}"
    assert event.payment is not None
    assert (event.payment.reference, event.payment.status) == (REF, "succeeded")
    assert (event.payment.amount, event.payment.currency) == (250_050, "NGN")
    # Paystack retries deliver the same payload: the same event id, so replays are no-ops.
    assert provider.parse_webhook(body, headers).event_id == event.event_id


def test_the_signature_header_name_is_case_insensitive(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    provider = provider_for(settings, fake_paystack)
    start(provider)
    body, headers = fake_paystack.pay(REF)
    shouted = {"X-Paystack-Signature": headers["x-paystack-signature"]}
    assert provider.parse_webhook(body, shouted).kind == "charge.success"


def test_a_tampered_body_is_refused(settings: Settings, fake_paystack: FakePaystack) -> None:
    provider = provider_for(settings, fake_paystack)
    start(provider, amount=100)
    body, headers = fake_paystack.pay(REF)
    tampered = body.replace(b'"amount": 100,', b'"amount": 1000000,')
    assert tampered != body
    with pytest.raises(InvalidSignature) as caught:
        provider.parse_webhook(tampered, headers)
    assert caught.value.code == "invalid_signature"
    assert caught.value.status == 400


def test_a_webhook_signed_with_another_key_is_refused(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    body, headers = fake_paystack.webhook(
        "charge.success", {"id": 1, "reference": "x"}, secret_key="sk_attacker"
    )
    with pytest.raises(InvalidSignature):
        provider_for(settings, fake_paystack).parse_webhook(body, headers)


@pytest.mark.parametrize("bad", [None, "", "not-hex", "é" * 128, "0" * 128])
def test_a_missing_or_garbled_signature_is_refused(
    settings: Settings, fake_paystack: FakePaystack, bad: str | None
) -> None:
    body = b'{"event":"charge.success","data":{}}'
    headers = {} if bad is None else {"x-paystack-signature": bad}
    with pytest.raises(InvalidSignature):
        provider_for(settings, fake_paystack).parse_webhook(body, headers)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"event": "charge.success"}',
        b'{"event": "charge.success", "data": {"reference": "r", "amount": 100.5,'
        b' "currency": "NGN", "status": "success"}}',
        b'{"event": "charge.success", "data": {"reference": "r", "amount": 100,'
        b' "currency": "naira", "status": "success"}}',
        b'{"event": "charge.success", "data": {"amount": 100, "currency": "NGN"}}',
        b"\xff\xfe",
    ],
)
def test_a_correctly_signed_but_malformed_payload_is_a_malformed_webhook(
    settings: Settings, fake_paystack: FakePaystack, body: bytes
) -> None:
    headers = {"x-paystack-signature": paystack_signature(body, fake_paystack.secret_key)}
    with pytest.raises(MalformedWebhook) as caught:
        provider_for(settings, fake_paystack).parse_webhook(body, headers)
    assert caught.value.code == "malformed_webhook"


@pytest.mark.parametrize("amount_as_string", [False, True])
def test_refund_processed_webhook_carries_the_refund_with_exact_amount(
    settings: Settings, fake_paystack: FakePaystack, amount_as_string: bool
) -> None:
    provider = provider_for(settings, fake_paystack)
    start(provider)
    fake_paystack.pay(REF)
    result = provider.refund(
        reference=REF,
        provider_payment_id=None,
        amount=75_025,
        currency="NGN",
        idempotency_key="k1",
    )
    body, headers = fake_paystack.process_refund(
        int(result.provider_refund_id), amount_as_string=amount_as_string
    )

    event = provider.parse_webhook(body, headers)

    assert event.kind == "refund.processed"
    assert event.event_id == f"refund.processed:{result.provider_refund_id}"
    assert event.payment is None
    assert event.refund is not None
    assert event.refund.reference == REF
    assert event.refund.provider_refund_id == result.provider_refund_id
    assert (event.refund.status, event.refund.amount, event.refund.currency) == (
        "succeeded",
        75_025,
        "NGN",
    )


def test_an_event_we_do_not_act_on_still_verifies_with_a_stable_id(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    body, headers = fake_paystack.webhook("transfer.success", {"reference": "trf_9"})
    event = provider_for(settings, fake_paystack).parse_webhook(body, headers)
    assert (event.event_id, event.payment, event.refund) == ("transfer.success:trf_9", None, None)


def test_a_redirect_is_not_followed_with_the_key(
    settings: Settings, fake_paystack: FakePaystack
) -> None:
    fake_paystack.fail_next(302, body=b"{}")
    with pytest.raises(ProviderError, match="redirect"):
        provider_for(settings, fake_paystack).verify(REF)
    assert len(fake_paystack.requests) == 1
