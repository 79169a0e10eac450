"""Sessions at the service, row by row (found by mutation testing of `auth/service.py`:
docs/mutation/sessions.md): what starting and refreshing a session records, a rotation
lost to a rival use between the read and the conditional update, refresh expiry to the
instant, signing out everywhere and Apple's notifications touching only what they name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from admitone.auth import service as auth
from admitone.auth.models import AuthAccount, AuthSession, RefreshToken
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.ids import AuthAccountId, UserId
from admitone.settings import Settings
from tests.auth.conftest import bearer
from tests.factories import make_user

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PHONE = ("198.51.100.7", "phone")


def _user(db: Database) -> UserId:
    return db.mutation(lambda s: make_user(s).id)


def _session_row(db: Database, sid: str) -> AuthSession:
    row = db.query(lambda s: s.get(AuthSession, sid))
    assert row is not None
    return row


# --- what a session records ------------------------------------------------------------------


def test_a_new_session_records_when_it_was_used_and_its_client_within_the_columns(
    db: Database, settings: Settings
) -> None:
    user = _user(db)
    with time_machine.travel(T0, tick=False):
        tokens = db.mutation(
            auth.start_session, settings, user, method="otp", ip="2" * 100, user_agent="u" * 500
        )
    row = _session_row(db, tokens.session_id)
    assert row.last_used_at == T0
    assert (row.ip, row.user_agent) == ("2" * 64, "u" * 300)  # cut to fit, as PostgreSQL needs


def test_a_refresh_marks_its_own_session_used_and_no_other(
    db: Database, settings: Settings
) -> None:
    user = _user(db)
    with time_machine.travel(T0, tick=False):
        mine = db.mutation(auth.start_session, settings, user, method="otp")
        other = db.mutation(auth.start_session, settings, user, method="otp")
    later = T0 + timedelta(hours=2)
    with time_machine.travel(later, tick=False):
        outcome = db.mutation(auth.rotate_refresh_token, settings, mine.refresh_token, PHONE)
    assert outcome.tokens is not None
    assert (outcome.tokens.session_id, outcome.tokens.user_id) == (mine.session_id, user)
    assert _session_row(db, mine.session_id).last_used_at == later
    assert _session_row(db, other.session_id).last_used_at == T0
    assert _session_row(db, other.session_id).updated_at < later


def test_a_retry_within_the_grace_window_answers_for_the_same_session(
    db: Database, settings: Settings
) -> None:
    user = _user(db)
    tokens = db.mutation(auth.start_session, settings, user, method="otp")
    db.mutation(auth.rotate_refresh_token, settings, tokens.refresh_token, PHONE)
    retry = db.mutation(auth.rotate_refresh_token, settings, tokens.refresh_token, PHONE)
    assert retry.tokens is not None
    assert (retry.tokens.session_id, retry.tokens.user_id) == (tokens.session_id, user)


def test_a_session_is_live_only_for_its_own_user(db: Database, settings: Settings) -> None:
    user, stranger = _user(db), _user(db)
    tokens = db.mutation(auth.start_session, settings, user, method="otp")
    assert db.query(auth.is_session_live, tokens.session_id, user)
    assert not db.query(auth.is_session_live, tokens.session_id, stranger)


# --- refresh: expiry and the lost race ---------------------------------------------------------


def test_a_refresh_token_expires_at_the_very_instant_its_days_end(
    db: Database, settings: Settings
) -> None:
    user = _user(db)
    with time_machine.travel(T0, tick=False):
        tokens = db.mutation(auth.start_session, settings, user, method="otp")
    end = T0 + timedelta(days=settings.auth.refresh_token_days)
    with time_machine.travel(end, tick=False):
        outcome = db.mutation(auth.rotate_refresh_token, settings, tokens.refresh_token)
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.detail) == (
        "invalid_refresh_token",
        "The refresh token has expired.",
    )
    assert db.query(auth.is_session_live, tokens.session_id, user)  # expiry revokes nothing


def test_a_rotation_lost_to_a_rival_use_after_the_read_ends_the_session(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL's race (test_sessions.py) played step by step: the rival rotates the token
    # after this use read it unrotated, before this use's conditional update.
    user = _user(db)
    tokens = db.mutation(auth.start_session, settings, user, method="otp")
    real_mark = auth._client_mark
    within: list[Session] = []

    def rival_rotates_it_first(s: Settings, client: Any) -> str | None:
        monkeypatch.setattr(auth, "_client_mark", real_mark)
        within[0].execute(
            update(RefreshToken)
            .where(RefreshToken.session_id == tokens.session_id)
            .values(rotated_at=utcnow())
        )
        return real_mark(s, client)

    def rotate(session: Session) -> auth.RefreshOutcome:
        within.append(session)
        return auth.rotate_refresh_token(session, settings, tokens.refresh_token, PHONE)

    monkeypatch.setattr(auth, "_client_mark", rival_rotates_it_first)
    outcome = db.mutation(rotate)
    assert outcome.tokens is None
    assert outcome.error is not None
    assert outcome.error.code == "refresh_token_reused"
    assert outcome.revoked_session_id == tokens.session_id
    assert not db.query(auth.is_session_live, tokens.session_id, user)
    children = db.query(
        lambda s: s.scalars(
            select(RefreshToken.id).where(RefreshToken.session_id == tokens.session_id)
        ).all()
    )
    assert len(children) == 1  # no child minted for the loser


def test_a_reuse_is_seen_at_once_by_the_process_that_detected_it(
    client: TestClient, sign_in: Callable[[str], dict[str, Any]]
) -> None:
    # This process had just verified the session (cached as live for a few seconds): the
    # reuse it detects must end that too, not only the row.
    legit = sign_in("cached@example.com")
    assert client.get("/api/v1/me", headers=bearer(legit)).status_code == 200
    client.post("/api/v1/auth/refresh", json={"refresh_token": legit["refresh_token"]})
    replay = client.post(
        "/api/v1/auth/refresh",
        json={"refresh_token": legit["refresh_token"]},
        headers={"User-Agent": "thief"},
    )
    assert replay.json()["code"] == "refresh_token_reused"
    assert client.get("/api/v1/me", headers=bearer(legit)).json()["code"] == "session_revoked"


# --- signing out everywhere ------------------------------------------------------------------


def test_signing_out_everywhere_ends_only_this_users_live_sessions(
    db: Database, settings: Settings
) -> None:
    user, neighbour = _user(db), _user(db)
    ended = db.mutation(auth.start_session, settings, user, method="otp")
    live = db.mutation(auth.start_session, settings, user, method="google")
    theirs = db.mutation(auth.start_session, settings, neighbour, method="otp")
    with time_machine.travel(T0, tick=False):
        db.mutation(auth.sign_out, ended.session_id)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        revoked = db.mutation(auth.sign_out_everywhere, user)
    assert revoked == [live.session_id]  # the one already ended is not ended again
    assert _session_row(db, ended.session_id).revoked_at == T0
    assert _session_row(db, live.session_id).revoked_at == T0 + timedelta(hours=1)
    assert db.query(auth.is_session_live, theirs.session_id, neighbour)


# --- Apple's account notifications -------------------------------------------------------------


def _link(db: Database, user: UserId, provider: str, subject: str) -> None:
    db.mutation(
        lambda s: s.add(
            AuthAccount(
                id=AuthAccountId.new(),
                user_id=user,
                provider=provider,
                provider_account_id=subject,
            )
        )
    )


def _disabled(db: Database, provider: str, subject: str) -> datetime | None:
    return db.query(
        lambda s: s.scalar(
            select(AuthAccount.disabled_at).where(
                AuthAccount.provider == provider, AuthAccount.provider_account_id == subject
            )
        )
    )


def test_an_apple_notification_ends_only_the_apple_sessions_of_the_identity_it_names(
    db: Database, settings: Settings
) -> None:
    user, other = _user(db), _user(db)
    _link(db, user, "apple", "000111.named.0101")
    _link(db, other, "apple", "000111.other.0101")
    _link(db, other, "google", "000111.named.0101")  # the same subject at another provider
    ended = db.mutation(auth.start_session, settings, user, method="apple")
    apple = db.mutation(auth.start_session, settings, user, method="apple")
    by_code = db.mutation(auth.start_session, settings, user, method="otp")
    others = db.mutation(auth.start_session, settings, other, method="apple")
    with time_machine.travel(T0, tick=False):
        db.mutation(auth.sign_out, ended.session_id)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        revoked = db.mutation(auth.apply_apple_event, "000111.named.0101", "consent-revoked")
    assert revoked == [apple.session_id]
    assert _session_row(db, ended.session_id).revoked_at == T0
    assert _disabled(db, "apple", "000111.named.0101") == T0 + timedelta(hours=1)
    assert db.query(auth.is_session_live, by_code.session_id, user)  # signed in by code
    assert db.query(auth.is_session_live, others.session_id, other)
    assert _disabled(db, "apple", "000111.other.0101") is None
    assert _disabled(db, "google", "000111.named.0101") is None
