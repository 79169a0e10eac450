"""Access tokens' remembered verifications (`auth/tokens.py`): a token verified once is
answered from memory until its expiry, to the second, and then forgotten."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import jwt
import pytest
import time_machine

from admitone.auth import tokens
from admitone.auth.tokens import InvalidToken, TokenExpired
from admitone.core.ids import AuthSessionId, UserId
from admitone.settings import Settings


def test_a_remembered_token_expires_at_its_exp_second_and_is_forgotten(
    settings: Settings,
) -> None:
    issued = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    user, sid = UserId.new(), AuthSessionId.new()
    with time_machine.travel(issued, tick=False):
        token, ttl = tokens.issue_access_token(settings, user, sid)
        assert tokens.verify_access_token(settings, token).user_id == user
        assert (settings.base_url, token) in tokens._verified
    # At exactly `exp` the token is expired (as PyJWT says), remembered or not.
    with time_machine.travel(issued.timestamp() + ttl, tick=False):
        with pytest.raises(TokenExpired):
            tokens.verify_access_token(settings, token)
        assert (settings.base_url, token) not in tokens._verified


def _signed(settings: Settings, kid: str | None = None, **claims: object) -> str:
    """A token signed with the configured signing key, with `claims` over valid ones
    (a claim given as None is left out)."""
    key = tokens._keys(settings)[0]
    now = int(time.time())
    payload = {
        "iss": settings.base_url,
        "aud": "admitone",
        "sub": UserId.new(),
        "sid": AuthSessionId.new(),
        "iat": now,
        "exp": now + 600,
        **claims,
    }
    body = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(body, key.private, algorithm="ES256", headers={"kid": kid or key.kid})


def test_a_token_from_our_key_still_needs_our_issuer_audience_and_its_claims(
    settings: Settings,
) -> None:
    user = UserId.new()
    assert tokens.verify_access_token(settings, _signed(settings, sub=user)).user_id == user
    for bad in (
        {"iss": "https://another-deployment.example"},  # one key shared by two deployments
        {"aud": "someone-else"},
        {"exp": None},  # a token that would never expire
        {"sid": None},
        {"sub": None},
    ):
        with pytest.raises(InvalidToken) as caught:
            tokens.verify_access_token(settings, _signed(settings, **bad))
        assert caught.value.detail == "The access token is invalid.", bad
    with pytest.raises(InvalidToken) as caught:
        tokens.verify_access_token(settings, _signed(settings, kid="not-a-configured-key"))
    assert caught.value.detail == "The access token was signed by an unknown key."
