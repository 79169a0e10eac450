"""Google and Apple ID tokens (and Apple's signed notifications), verified against the
provider's JWKS: signature with a key the JWKS allows, issuer, audience (our client ids),
expiry with a small leeway, and the nonce; for Google, optionally the Workspace domain
(`hd` claim) against `google_hosted_domains`.

JWKS are cached per URL for the response's `max-age` (else a setting) and refetched when a
token names an unknown `kid` (key rotation), at most once per `jwks_min_refetch_seconds` so
a stream of made-up kids cannot turn us into a proxy hammering the provider. Fetching is
network: call these functions outside any database transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
import jwt
from jwt import PyJWK

from admitone.auth.errors import (
    GoogleDomainNotAllowed,
    InvalidIdToken,
    InvalidNotification,
    ProviderNotConfigured,
    ProviderUnavailable,
)
from admitone.auth.secrets import same
from admitone.core.clock import utcnow
from admitone.settings import Settings

Provider = Literal["google", "apple"]
ALLOWED_ALGORITHMS = ("RS256", "ES256")
_MAX_AGE = re.compile(r"max-age=(\d+)")


@dataclass
class _Entry:
    keys: dict[str, PyJWK]
    fetched_at: datetime
    expires_at: datetime


@dataclass
class JwksCache:
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def key(self, settings: Settings, url: str, kid: str) -> PyJWK:
        now = utcnow()
        entry = self._entries.get(url)
        if entry is not None and now < entry.expires_at and kid in entry.keys:
            return entry.keys[kid]
        with self._lock:
            entry = self._entries.get(url)
            fresh = entry is not None and now < entry.expires_at
            if fresh and entry is not None and kid in entry.keys:
                return entry.keys[kid]
            recently = entry is not None and now - entry.fetched_at < timedelta(
                seconds=settings.auth.jwks_min_refetch_seconds
            )
            if not (fresh and recently):
                entry = self._fetch(settings, url)
                self._entries[url] = entry
        assert entry is not None
        if kid not in entry.keys:
            raise InvalidIdToken("unknown_key", "The token was signed by a key we do not know.")
        return entry.keys[kid]

    def _fetch(self, settings: Settings, url: str) -> _Entry:
        try:
            resp = httpx.get(url, timeout=10.0)
            resp.raise_for_status()
            document = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable() from exc
        keys: dict[str, PyJWK] = {}
        for raw in document.get("keys", []) if isinstance(document, dict) else []:
            try:
                jwk = PyJWK.from_dict(raw)
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                continue  # a key type we do not support is not a reason to drop the others
            if jwk.key_id:
                keys[jwk.key_id] = jwk
        match = _MAX_AGE.search(resp.headers.get("cache-control", ""))
        ttl = int(match.group(1)) if match else settings.auth.jwks_cache_seconds
        now = utcnow()
        return _Entry(keys, now, now + timedelta(seconds=ttl))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


jwks_cache = JwksCache()


@dataclass(frozen=True)
class Identity:
    provider: Provider
    subject: str
    email: str | None
    email_verified: bool
    is_private_email: bool


def _truthy(value: Any) -> bool:
    # Apple sends some booleans as the strings "true" / "false".
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _decode(
    settings: Settings,
    token: str,
    *,
    jwks_url: str,
    audience: list[str],
    issuer: str | list[str],
    require: tuple[str, ...] = ("exp", "iat", "iss", "aud", "sub"),
) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidIdToken("malformed", "The token is not a JWT.") from exc
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALLOWED_ALGORITHMS or not isinstance(kid, str):
        raise InvalidIdToken("malformed", "The token's algorithm or key id is not acceptable.")
    jwk = jwks_cache.key(settings, jwks_url, kid)
    if jwk.algorithm_name != alg:
        # Accept only what the published key allows, whatever the header claims.
        raise InvalidIdToken("signature", "The token's algorithm does not match its key.")
    try:
        return jwt.decode(
            token,
            jwk.key,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            leeway=settings.auth.jwt_leeway_seconds,
            options={"require": list(require)},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidIdToken("expired", "The identity token has expired.") from exc
    except jwt.InvalidAudienceError as exc:
        raise InvalidIdToken("audience", "The identity token is for another application.") from exc
    except jwt.InvalidIssuerError as exc:
        raise InvalidIdToken("issuer", "The identity token has the wrong issuer.") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidIdToken("signature", "The identity token's signature is invalid.") from exc
    except (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError) as exc:
        raise InvalidIdToken("not_yet_valid", "The identity token is not valid yet.") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidIdToken("missing_claim", f"The identity token lacks {exc.claim}.") from exc
    except jwt.PyJWTError as exc:
        raise InvalidIdToken("malformed", "The identity token could not be decoded.") from exc


def _identity(provider: Provider, claims: dict[str, Any]) -> Identity:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 320:
        email = None
    return Identity(
        provider=provider,
        subject=str(claims["sub"])[:255],
        email=email.lower() if email else None,
        email_verified=_truthy(claims.get("email_verified")),
        is_private_email=_truthy(claims.get("is_private_email")),
    )


def verify_google(settings: Settings, id_token: str, nonce: str | None) -> Identity:
    auth = settings.auth
    if not auth.google_client_ids:
        raise ProviderNotConfigured()
    claims = _decode(
        settings,
        id_token,
        jwks_url=auth.google_jwks_url,
        audience=auth.google_client_ids,
        issuer=auth.google_issuers,
    )
    token_nonce = claims.get("nonce")
    if nonce is not None and not (isinstance(token_nonce, str) and same(token_nonce, nonce)):
        raise InvalidIdToken("nonce", "The identity token was issued for another sign-in.")
    if auth.google_hosted_domains:
        # Google's guidance: only the signed `hd` claim proves Workspace membership (an `hd`
        # request parameter merely hints the account chooser; the e-mail's domain proves
        # nothing). Personal accounts carry no `hd` and are refused.
        hosted = claims.get("hd")
        allowed = {domain.strip().lower() for domain in auth.google_hosted_domains}
        if not (isinstance(hosted, str) and hosted.lower() in allowed):
            raise GoogleDomainNotAllowed()
    return _identity("google", claims)


def apple_nonce_hash(raw_nonce: str) -> str:
    return hashlib.sha256(raw_nonce.encode()).hexdigest()


def verify_apple(settings: Settings, id_token: str, nonce: str) -> Identity:
    """`nonce` is the raw value the client kept; the token carries its SHA-256 (hex)."""
    auth = settings.auth
    if not auth.apple_client_ids:
        raise ProviderNotConfigured()
    claims = _decode(
        settings,
        id_token,
        jwks_url=auth.apple_jwks_url,
        audience=auth.apple_client_ids,
        issuer=auth.apple_issuer,
    )
    token_nonce = claims.get("nonce")
    if not (isinstance(token_nonce, str) and same(token_nonce, apple_nonce_hash(nonce))):
        raise InvalidIdToken("nonce", "The identity token was issued for another sign-in.")
    return _identity("apple", claims)


@dataclass(frozen=True)
class AppleEvent:
    type: str
    subject: str
    email: str | None = None


def verify_apple_notification(settings: Settings, payload: str) -> AppleEvent:
    """Apple's server-to-server notification: a JWS signed with Apple's keys whose
    `events` claim (an object, or that object JSON-encoded) names the type and `sub`."""
    auth = settings.auth
    if not auth.apple_client_ids:
        raise ProviderNotConfigured()
    try:
        claims = _decode(
            settings,
            payload,
            jwks_url=auth.apple_jwks_url,
            audience=auth.apple_client_ids,
            issuer=auth.apple_issuer,
            require=("iss", "aud", "iat"),
        )
    except InvalidIdToken as exc:
        raise InvalidNotification(reason=exc.extra.get("reason")) from exc
    events = claims.get("events")
    if isinstance(events, str):
        try:
            events = json.loads(events)
        except ValueError:
            events = None
    if not isinstance(events, dict) or not isinstance(events.get("sub"), str):
        raise InvalidNotification("The notification carries no event we can read.")
    email = events.get("email")
    return AppleEvent(
        type=str(events.get("type", "")),
        subject=events["sub"][:255],
        email=email if isinstance(email, str) else None,
    )
