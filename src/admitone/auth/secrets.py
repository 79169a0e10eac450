"""Sign-in secrets: generation and keyed hashing (HMAC-SHA256 with the server secret), so a
leaked table of hashes cannot be brute-forced offline without the key."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from admitone.settings import Settings

OTP_DIGITS = 6


def new_otp() -> str:
    return f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"


def new_token() -> str:
    """32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def keyed_hash(settings: Settings, purpose: str, *parts: str) -> str:
    """HMAC-SHA256 hex of `parts` under the server secret, domain-separated by `purpose`."""
    message = "\x1f".join((purpose, *parts)).encode()
    return hmac.new(settings.secret, message, hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
