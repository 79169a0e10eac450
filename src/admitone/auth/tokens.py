"""Access tokens: short-lived ES256 JWTs (`sub` user, `sid` session) and the JWKS that
verifies them. Every configured key verifies; the first one signs, so adding a new key in
front rotates signing without logging anybody out."""

from __future__ import annotations

import base64
import hashlib
import json
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


def _keys(settings: Settings) -> tuple[_Key, ...]:
    return _keys_for(tuple(k.get_secret_value() for k in settings.auth.signing_keys))


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


def verify_access_token(settings: Settings, token: str) -> AccessClaims:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise InvalidToken() from exc
    key = next((k for k in _keys(settings) if k.kid == kid), None)
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
        return AccessClaims(UserId.parse(claims["sub"]), AuthSessionId.parse(claims["sid"]))
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired() from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken() from exc


def jwks(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    return {"keys": [k.jwk for k in _keys(settings)]}
