"""Access tokens' remembered verifications (`auth/tokens.py`): a token verified once is
answered from memory until its expiry, to the second, and then forgotten."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from admitone.auth import tokens
from admitone.auth.tokens import TokenExpired
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
