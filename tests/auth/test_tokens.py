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


def test_a_fresh_process_issues_and_verifies_with_nothing_remembered(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first request of a process finds no key set remembered (the hot path's cache).
    monkeypatch.setattr(tokens, "_last_keys", None)
    monkeypatch.setattr(tokens, "_verified", {})
    user, sid = UserId.new(), AuthSessionId.new()
    token, _ = tokens.issue_access_token(settings, user, sid)
    assert tokens.verify_access_token(settings, token).user_id == user


def test_remembered_verifications_never_outgrow_their_bound(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "_MAX_REMEMBERED", 3)
    monkeypatch.setattr(tokens, "_verified", {})
    for _ in range(7):
        tokens.verify_access_token(settings, _signed(settings))
        assert 1 <= len(tokens._verified) <= 3


def test_an_expired_token_forgotten_by_another_request_meanwhile_is_still_expired(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two requests with the same remembered token just past its expiry: both find it, the
    # other forgets it first; this one must still answer token_expired, not a KeyError.
    token = _signed(settings)
    tokens.verify_access_token(settings, token)
    entry = (settings.base_url, token)
    assert entry in tokens._verified

    class OtherRequestForgetsItFirst:
        @staticmethod
        def time() -> float:
            tokens._verified.pop(entry, None)
            return time.time() + 3600

    monkeypatch.setattr(tokens, "time", OtherRequestForgetsItFirst)
    with time_machine.travel(time.time() + 3600, tick=False), pytest.raises(TokenExpired):
        tokens.verify_access_token(settings, token)
