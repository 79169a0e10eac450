"""The signed, short-lived identity the mobile gateway passes to the support service.

The gateway verifies the caller's access token and session, then sends
`X-Admitone-Identity: v1.<user id>.<session id>.<expiry>.<signature>` (HMAC-SHA256 with a
key derived from the platform secret). The support service trusts only that signature:
a client that reaches the support surface directly with a header of its own making is
refused (401), and the gateway never forwards a client-sent one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from admitone.core.errors import Unauthorized
from admitone.core.ids import AuthSessionId, UserId
from admitone.settings import Settings

HEADER = "x-admitone-identity"
TTL_SECONDS = 60


class ForgedIdentity(Unauthorized):
    code = "invalid_identity"
    message = "The internal identity header is not valid."


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.secret, b"admitone.gateway-identity.v1", hashlib.sha256).digest()


def _sign(settings: Settings, text: str) -> str:
    mac = hmac.new(_key(settings), text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign_identity(
    settings: Settings, user_id: str, session_id: str, now: float | None = None
) -> str:
    expires = int((now if now is not None else time.time()) + TTL_SECONDS)
    text = f"v1.{user_id}.{session_id}.{expires}"
    return f"{text}.{_sign(settings, text)}"


def read_identity(
    settings: Settings, value: str, now: float | None = None
) -> tuple[UserId, AuthSessionId]:
    """The (user, session) a gateway-signed header names; ForgedIdentity otherwise."""
    parts = value.split(".")
    if len(parts) != 5 or parts[0] != "v1":
        raise ForgedIdentity()
    text = ".".join(parts[:4])
    if not hmac.compare_digest(parts[4], _sign(settings, text)):
        raise ForgedIdentity()
    try:
        expires = int(parts[3])
        user_id, session_id = UserId.parse(parts[1]), AuthSessionId.parse(parts[2])
    except ValueError as exc:
        raise ForgedIdentity() from exc
    if expires < (now if now is not None else time.time()):
        raise ForgedIdentity("The internal identity header has expired.")
    return user_id, session_id
