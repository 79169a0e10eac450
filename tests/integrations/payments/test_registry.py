"""Choosing a provider: only the enabled ones, clear refusals, one adapter per config."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import SecretStr

from admitone.integrations.payments.base import (
    PaymentProviderMisconfigured,
    PaymentProviderUnavailable,
)
from admitone.integrations.payments.dev import DevProvider
from admitone.integrations.payments.paystack import PaystackProvider
from admitone.integrations.payments.registry import get_dev_provider, get_provider
from admitone.integrations.payments.stripe import StripeProvider
from admitone.settings import Settings


def with_payments(settings: Settings, **update: object) -> Settings:
    return settings.model_copy(update={"payments": settings.payments.model_copy(update=update)})


@pytest.mark.parametrize("name", ["paystack", "stripe", "flutterwave", "", "DEV", "<script>"])
def test_a_provider_not_enabled_here_is_a_422_that_lists_the_enabled_ones(
    settings: Settings, name: str
) -> None:
    with pytest.raises(PaymentProviderUnavailable) as caught:
        get_provider(settings, name)
    problem = caught.value.problem()
    assert (problem["status"], problem["code"]) == (422, "payment_provider_unavailable")
    assert problem["available"] == ["dev"]
    if name:
        assert name not in problem["detail"]


@pytest.mark.parametrize(
    ("name", "setting"),
    [("paystack", "PAYSTACK_SECRET_KEY"), ("stripe", "STRIPE_SECRET_KEY")],
)
def test_an_enabled_provider_without_its_key_is_misconfigured(
    settings: Settings, name: str, setting: str
) -> None:
    configured = with_payments(settings, providers=["dev", name])
    with pytest.raises(PaymentProviderMisconfigured) as caught:
        get_provider(configured, name)
    assert caught.value.status == 503
    assert caught.value.extra["setting"] == f"ADMITONE_PAYMENTS__{setting}"


def test_stripe_without_a_webhook_secret_is_misconfigured(settings: Settings) -> None:
    configured = with_payments(
        settings, providers=["stripe"], stripe_secret_key=SecretStr("sk_test_1")
    )
    with pytest.raises(PaymentProviderMisconfigured):
        get_provider(configured, "stripe")


def test_each_enabled_provider_gets_its_adapter(settings: Settings) -> None:
    configured = with_payments(
        settings,
        providers=["dev", "paystack", "stripe"],
        paystack_secret_key=SecretStr("sk_test_p"),
        stripe_secret_key=SecretStr("sk_test_s"),
        stripe_webhook_secret=SecretStr("whsec_s"),
    )
    assert isinstance(get_provider(configured, "dev"), DevProvider)
    assert isinstance(get_provider(configured, "paystack"), PaystackProvider)
    assert isinstance(get_provider(configured, "stripe"), StripeProvider)


def test_the_same_configuration_reuses_one_adapter_and_a_new_key_builds_another(
    settings: Settings,
) -> None:
    configured = with_payments(
        settings, providers=["paystack"], paystack_secret_key=SecretStr("sk_test_1")
    )
    first = get_provider(configured, "paystack")
    assert get_provider(configured.model_copy(), "paystack") is first
    rotated = with_payments(configured, paystack_secret_key=SecretStr("sk_test_2"))
    assert get_provider(rotated, "paystack") is not first


def test_the_dev_helpers_are_refused_where_dev_is_not_enabled(settings: Settings) -> None:
    assert isinstance(get_dev_provider(settings), DevProvider)
    production_like = with_payments(
        settings, providers=["paystack"], paystack_secret_key=SecretStr("sk_live_1")
    )
    with pytest.raises(PaymentProviderUnavailable):
        get_dev_provider(production_like)


def test_threads_asking_at_once_share_one_adapter(settings: Settings) -> None:
    configured = with_payments(
        settings,
        providers=["stripe"],
        stripe_secret_key=SecretStr("sk_test_threads"),
        stripe_webhook_secret=SecretStr("whsec_threads"),
    )
    with ThreadPoolExecutor(8) as pool:
        adapters = list(pool.map(lambda _: get_provider(configured, "stripe"), range(32)))
    assert len({id(a) for a in adapters}) == 1
