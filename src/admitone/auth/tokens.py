"""Access tokens: short-lived ES256 JWTs (`sub` user, `sid` session) and the JWKS that
verifies them. Every configured key verifies; the first one signs, so adding a new key in
front rotates signing without logging anybody out.

A token that verified once is remembered (bounded, per process) until its `exp`: a client
presents the same token on every request for its 15 minutes, and an ECDSA verification
costs far more than the rest of the auth path. The memory is keyed by the exact token
text, so it can only ever answer for a token that passed the full check; it still honours
expiry and forgets a token whose signing key was removed from the settings.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from admitone.core.clock import utcnow
from admitone.core.errors import Unauthorized
from admitone.core.ids import AuthSessionId, UserId
from admitone.settings import Settings

ALGORITHM = "ES256"


class InvalidToken(Unauthorized):
    code = "invalid_token"
    message = "The access token is invalid."


class TokenExpired(Unauthorized):
    code = "token_expired"
    message = "The access token has expired; refresh it."


@dataclass(frozen=True)
class AccessClaims:
    user_id: UserId
    session_id: AuthSessionId


@dataclass(frozen=True)
class _Key:
    kid: str
    private: ec.EllipticCurvePrivateKey
    public: ec.EllipticCurvePublicKey
    jwk: dict[str, Any]


def _kid(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint: stable for a key, different for every key."""
    canonical = json.dumps(
        {k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode()[:22]


@cache
def _keys_for(pems: tuple[str, ...]) -> tuple[_Key, ...]:
    from cryptography.hazmat.primitives import serialization

    keys = []
    for pem in pems:
        private = serialization.load_pem_private_key(pem.encode(), None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        public = private.public_key()
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(public))
        kid = _kid(jwk)
        keys.append(_Key(kid, private, public, {**jwk, "kid": kid, "use": "sig", "alg": ALGORITHM}))
    return tuple(keys)


_last_keys: tuple[object, tuple[_Key, ...]] | None = None


def _keys(settings: Settings) -> tuple[_Key, ...]:
    global _last_keys
    configured = settings.auth.signing_keys
    last = _last_keys
    if last is not None and last[0] is configured:  # the hot path: same settings object
        return last[1]
    keys = _keys_for(tuple(k.get_secret_value() for k in configured))
    _last_keys = (configured, keys)
    return keys


def issue_access_token(settings: Settings, user_id: str, session_id: str) -> tuple[str, int]:
    """Returns (token, seconds until it expires)."""
    key = _keys(settings)[0]
    ttl = timedelta(minutes=settings.auth.access_token_minutes)
    now = utcnow()
    payload = {
        "iss": settings.base_url,
        "aud": "admitone",
        "sub": user_id,
        "sid": session_id,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    token = jwt.encode(payload, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})
    return token, int(ttl.total_seconds())


_verified: dict[tuple[str, str], tuple[AccessClaims, int, str]] = {}
_MAX_REMEMBERED = 50_000


def verify_access_token(settings: Settings, token: str) -> AccessClaims:
    keys = _keys(settings)
    remembered = _verified.get((settings.base_url, token))
    if remembered is not None:
        known, exp, signed_by = remembered
        if time.time() < exp and any(k.kid == signed_by for k in keys):
            return known
        _verified.pop((settings.base_url, token), None)
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise InvalidToken() from exc
    key = next((k for k in keys if k.kid == kid), None)
    if key is None:
        raise InvalidToken("The access token was signed by an unknown key.")
    try:
        claims = jwt.decode(
            token,
            key.public,
            algorithms=[ALGORITHM],
            audience="admitone",
            issuer=settings.base_url,
            options={"require": ["exp", "sub", "sid"]},
        )
        verified = AccessClaims(UserId.parse(claims["sub"]), AuthSessionId.parse(claims["sid"]))
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired() from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken() from exc
    if len(_verified) >= _MAX_REMEMBERED:
        _verified.clear()  # crude but bounded; a miss only costs one verification
    _verified[(settings.base_url, token)] = (verified, int(claims["exp"]), key.kid)
    return verified


def jwks(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    return {"keys": [k.jwk for k in _keys(settings)]}
