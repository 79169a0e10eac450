"""Chooses a payment provider adapter by name from the providers enabled in settings.

Adapters are cached per configuration so their HTTP connection pools are reused across
calls (a reconciliation run verifies many payments); a settings change (another key,
another base URL) builds a new adapter.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from pydantic import SecretStr

from admitone.integrations.payments.base import (
    PaymentProvider,
    PaymentProviderMisconfigured,
    PaymentProviderUnavailable,
)
from admitone.integrations.payments.dev import DevProvider
from admitone.integrations.payments.paystack import PaystackProvider
from admitone.integrations.payments.stripe import StripeProvider
from admitone.settings import Settings

_CACHE_SIZE = 32
_cache: OrderedDict[Hashable, PaymentProvider] = OrderedDict()
_lock = threading.Lock()


def available_providers(settings: Settings) -> list[str]:
    return list(settings.payments.providers)


def get_provider(settings: Settings, name: str) -> PaymentProvider:
    """The adapter for `name`; 422 `payment_provider_unavailable` when this deployment
    does not enable it, 503 `payment_provider_misconfigured` when a key is missing."""
    enabled = available_providers(settings)
    if name not in enabled:
        # The name is caller input: listed back as data, never echoed into the message.
        raise PaymentProviderUnavailable(
            "This payment provider is not available here.", available=enabled
        )
    key = _config_key(settings, name)
    with _lock:
        provider = _cache.get(key)
        if provider is None:
            provider = _build(settings, name)
            _cache[key] = provider
            while len(_cache) > _CACHE_SIZE:
                # Not closed: another thread may be mid-request; the pool closes when freed.
                _cache.popitem(last=False)
        _cache.move_to_end(key)
        return provider


def get_dev_provider(settings: Settings) -> DevProvider:
    """The dev provider with its provider-side helpers (`build_event`, `sign_webhook`) for
    the dev checkout page; refused like any provider when `dev` is not enabled."""
    provider = get_provider(settings, "dev")
    assert isinstance(provider, DevProvider)
    return provider


def _secret(value: SecretStr | None, setting: str) -> str:
    if value is None or not value.get_secret_value():
        raise PaymentProviderMisconfigured(setting=f"ADMITONE_PAYMENTS__{setting.upper()}")
    return value.get_secret_value()


def _config_key(settings: Settings, name: str) -> Hashable:
    p = settings.payments
    secrets = (
        p.dev_webhook_secret,
        p.paystack_secret_key,
        p.stripe_secret_key,
        p.stripe_webhook_secret,
    )
    return (
        name,
        settings.base_url,
        p.paystack_base_url,
        p.stripe_base_url,
        p.webhook_tolerance_seconds,
        p.http_timeout_seconds,
        p.http_connect_timeout_seconds,
        *(s.get_secret_value() if s is not None else None for s in secrets),
    )


def _build(settings: Settings, name: str) -> PaymentProvider:
    p = settings.payments
    if name == "dev":
        return DevProvider(
            settings.base_url,
            _secret(p.dev_webhook_secret, "dev_webhook_secret"),
            p.webhook_tolerance_seconds,
        )
    if name == "paystack":
        return PaystackProvider(
            p.paystack_base_url,
            _secret(p.paystack_secret_key, "paystack_secret_key"),
            p.http_timeout_seconds,
            p.http_connect_timeout_seconds,
        )
    if name == "stripe":
        return StripeProvider(
            p.stripe_base_url,
            _secret(p.stripe_secret_key, "stripe_secret_key"),
            _secret(p.stripe_webhook_secret, "stripe_webhook_secret"),
            p.webhook_tolerance_seconds,
            p.http_timeout_seconds,
            p.http_connect_timeout_seconds,
        )
    raise PaymentProviderUnavailable(available=available_providers(settings))
