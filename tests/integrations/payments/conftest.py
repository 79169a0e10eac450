"""Fixtures for the payment adapter tests: the fake provider servers and settings bound to
them."""

from __future__ import annotations

from tests.integrations.payments.fakes import fake_paystack, fake_stripe

__all__ = ["fake_paystack", "fake_stripe"]
