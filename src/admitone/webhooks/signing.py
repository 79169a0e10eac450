"""Standard Webhooks signing: `whsec_<base64 key>` secrets and `v1,<base64 HMAC-SHA256>`
signatures over `"{id}.{timestamp}.{body}"`; several space-separated while a rotated-out
secret is still valid. The secrets are stored encrypted with the settings secret."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet

from admitone.settings import Settings

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return (
        "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()
    )


def signature_header(keys: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(signature(k, msg_id, timestamp, body) for k in keys)


def _fernet(settings: Settings) -> Fernet:
    return _fernet_for(settings.secret)


@functools.lru_cache(maxsize=4)
def _fernet_for(secret: bytes) -> Fernet:
    key = hmac.new(secret, b"webhooks.endpoint-secret", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(settings: Settings, secret: str) -> str:
    return _fernet(settings).encrypt(secret.encode()).decode()


def unseal(settings: Settings, sealed: str) -> str:
    return _fernet(settings).decrypt(sealed.encode()).decode()
