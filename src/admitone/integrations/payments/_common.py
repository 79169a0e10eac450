"""What the provider adapters share: one HTTP client shape, strict value parsing and the
timestamped HMAC signature scheme (Stripe's, reused by the dev provider)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from admitone.core.clock import utcnow
from admitone.core.errors import ProviderError
from admitone.integrations.payments.base import InvalidSignature, MalformedWebhook

log = logging.getLogger("admitone.integrations.payments")

# Provider messages are shown to callers inside a 502 problem; keep them short.
_MAX_MESSAGE = 200


class ProviderHttp:
    """A keep-alive httpx client for one provider whose failures all become ProviderError.

    Messages name the provider and the HTTP status, never a credential: the secret is
    redacted from anything the provider echoes back (Stripe echoes part of a bad key).
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        secret: str,
        headers: Mapping[str, str],
        timeout: float,
        connect_timeout: float,
    ) -> None:
        self.provider = provider
        self._secret = secret
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=dict(headers),
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Sends one request; returns (status, JSON object) for 2xx and 4xx answers so the
        adapter can read a provider's refusal; raises ProviderError for everything else."""
        try:
            resp = self._client.request(
                method, path, json=json_body, data=form, params=params, headers=headers
            )
        except httpx.TimeoutException as exc:
            log.warning("%s %s %s timed out", self.provider, method, path)
            raise self.error("did not answer in time") from exc
        except httpx.HTTPError as exc:
            log.warning("%s %s %s failed: %s", self.provider, method, path, type(exc).__name__)
            raise self.error("could not be reached") from exc
        if resp.status_code >= 500:
            log.warning("%s %s %s answered %s", self.provider, method, path, resp.status_code)
            raise self.error(f"failed (HTTP {resp.status_code})", status=resp.status_code)
        if 300 <= resp.status_code < 400:
            # Redirects are not followed: a secret key must not travel to another host.
            raise self.error(f"answered a redirect (HTTP {resp.status_code})", resp.status_code)
        if resp.status_code in (401, 403):
            raise self.error(
                f"refused our credentials (HTTP {resp.status_code})", status=resp.status_code
            )
        try:
            body = resp.json()
        except ValueError as exc:
            raise self.error(
                f"answered something that is not JSON (HTTP {resp.status_code})",
                status=resp.status_code,
            ) from exc
        if not isinstance(body, dict):
            raise self.error("answered an unexpected JSON shape", status=resp.status_code)
        return resp.status_code, body

    def error(self, what: str, status: int | None = None) -> ProviderError:
        extra: dict[str, Any] = {"provider": self.provider}
        if status is not None:
            extra["provider_status"] = status
        return ProviderError(self.redact(f"{self.label} {what}."), **extra)

    def refused(self, message: object, status: int) -> ProviderError:
        """A 4xx answer, with the provider's own explanation (redacted, shortened)."""
        text = str(message or "no reason given")[:_MAX_MESSAGE]
        return self.error(f"refused the request: {text}", status=status)

    def redact(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "[redacted]")
        return text

    @property
    def label(self) -> str:
        return self.provider.capitalize()


def minor_units(value: object, what: str = "amount") -> int:
    """An integer amount in minor units, exactly: ints and digit strings (Paystack sends
    some refund amounts as strings); floats, booleans and negatives are refused."""
    if isinstance(value, bool):
        raise ValueError(f"{what} is not an integer")
    if isinstance(value, int):
        amount = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        amount = int(value)
    else:
        raise ValueError(f"{what} is not an integer amount in minor units")
    if amount < 0:
        raise ValueError(f"{what} is negative")
    return amount


def currency_code(value: object) -> str:
    if not (isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha()):
        raise ValueError("currency is not an ISO 4217 code")
    return value.upper()


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup over any mapping (Starlette's, a dict, httpx's)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def load_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise MalformedWebhook("The webhook body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise MalformedWebhook("The webhook body is not a JSON object.")
    return data


def hmac_hex(secret: bytes, payload: bytes, digest: str) -> str:
    return hmac.new(secret, payload, getattr(hashlib, digest)).hexdigest()


def verify_timestamped_signature(
    body: bytes,
    signature_header: str | None,
    secret: bytes,
    tolerance_seconds: int,
    header_name: str,
) -> int:
    """Checks `t=<unix>,v1=<hex>[,v1=<hex>...]` where v1 = HMAC-SHA256(secret, "t." + body).

    Any v1 may match (secret rotation); other schemes (v0) are ignored. Every candidate
    is compared in constant time. Returns the signed timestamp.
    """
    if not signature_header:
        raise InvalidSignature(f"The {header_name} header is missing.")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in signature_header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                timestamp = None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None:
        raise InvalidSignature(f"The {header_name} header has no timestamp.")
    if not candidates:
        raise InvalidSignature(f"The {header_name} header has no v1 signature.")
    expected = hmac_hex(secret, f"{timestamp}.".encode() + body, "sha256")
    matched = False
    for candidate in candidates:
        # No early exit: the time taken does not depend on which candidate matched.
        # Bytes, because compare_digest refuses non-ASCII str and headers are hostile input.
        matched |= hmac.compare_digest(expected.encode(), candidate.encode("utf-8", "replace"))
    if not matched:
        raise InvalidSignature()
    if abs(utcnow().timestamp() - timestamp) > tolerance_seconds:
        raise InvalidSignature("The webhook timestamp is outside the tolerance.")
    return timestamp


def sign_timestamped(body: bytes, secret: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={hmac_hex(secret, f'{timestamp}.'.encode() + body, 'sha256')}"
