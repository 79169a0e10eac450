"""Sessions: access tokens, the current-user dependency, refresh rotation and reuse
detection, sign-out, and signing-key rotation."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jwt import PyJWK
from pydantic import SecretStr
from sqlalchemy import select

from admitone.auth import service as auth
from admitone.auth.models import AuthSession, RefreshToken
from admitone.auth.tokens import issue_access_token
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.settings import Settings, new_signing_key_pem
from tests.auth.conftest import bearer
from tests.factories import auth_headers, make_user

SignIn = Callable[[str], dict[str, Any]]
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/me"


def test_refresh_rotates_both_tokens(client: TestClient, sign_in: SignIn) -> None:
    first = sign_in("rot@example.com")
    second = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["user"]["id"] == first["user"]["id"]
    assert client.get(ME, headers=bearer(body)).status_code == 200
    third = client.post(REFRESH, json={"refresh_token": body["refresh_token"]})
    assert third.status_code == 200


def test_reusing_a_rotated_refresh_token_ends_the_whole_session(
    client: TestClient, sign_in: SignIn
) -> None:
    stolen = sign_in("reuse@example.com")
    legit = client.post(REFRESH, json={"refresh_token": stolen["refresh_token"]}).json()

    # the thief's client is not the one that rotated it (else: the grace window below)
    replay = client.post(
        REFRESH, json={"refresh_token": stolen["refresh_token"]}, headers={"User-Agent": "thief"}
    )
    assert replay.status_code == 401
    assert replay.json()["code"] == "refresh_token_reused"
    # the newest refresh token and the access tokens of that session die with it
    after = client.post(REFRESH, json={"refresh_token": legit["refresh_token"]})
    assert after.json()["code"] == "invalid_refresh_token"
    me = client.get(ME, headers=bearer(legit))
    assert me.status_code == 401
    assert me.json()["code"] == "session_revoked"


def test_reuse_leaves_other_sessions_alone(client: TestClient, sign_in: SignIn) -> None:
    phone = sign_in("two-devices@example.com")
    laptop = sign_in("two-devices@example.com")
    client.post(REFRESH, json={"refresh_token": phone["refresh_token"]})
    reused = client.post(
        REFRESH, json={"refresh_token": phone["refresh_token"]}, headers={"User-Agent": "other"}
    )
    assert reused.json()["code"] == "refresh_token_reused"
    assert client.get(ME, headers=bearer(phone)).json()["code"] == "session_revoked"
    assert client.get(ME, headers=bearer(laptop)).status_code == 200


def test_a_lost_refresh_answer_retried_at_once_gets_the_same_new_token(
    client: TestClient, sign_in: SignIn
) -> None:
    first = sign_in("flaky-network@example.com")
    lost = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).json()
    retry = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert retry.status_code == 200, retry.text
    assert retry.json()["refresh_token"] == lost["refresh_token"]
    assert client.get(ME, headers=bearer(retry.json())).status_code == 200
    # the pair it got is a normal one: it rotates once more, and the session lives on
    nxt = client.post(REFRESH, json={"refresh_token": retry.json()["refresh_token"]})
    assert nxt.status_code == 200
    assert client.get(ME, headers=bearer(nxt.json())).status_code == 200


def test_a_retry_after_the_grace_window_still_ends_the_session(
    client: TestClient, sign_in: SignIn
) -> None:
    first = sign_in("late-retry@example.com")
    rotated = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).json()
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=31)):
        late = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        assert late.json()["code"] == "refresh_token_reused"
        me = client.get(ME, headers=bearer(rotated))
        assert me.json()["code"] == "session_revoked"


def test_a_retry_once_the_new_token_was_used_ends_the_session(
    client: TestClient, sign_in: SignIn
) -> None:
    first = sign_in("used-child@example.com")
    child = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).json()
    grandchild = client.post(REFRESH, json={"refresh_token": child["refresh_token"]}).json()
    again = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert again.json()["code"] == "refresh_token_reused"
    assert client.get(ME, headers=bearer(grandchild)).json()["code"] == "session_revoked"


@pytest.mark.parametrize("token", ["nope", "A" * 43])
def test_unknown_refresh_token_is_refused(client: TestClient, token: str) -> None:
    resp = client.post(REFRESH, json={"refresh_token": token})
    assert resp.status_code == 401
    assert resp.json()["code"] == "invalid_refresh_token"


def test_expired_refresh_token_is_refused(client: TestClient, sign_in: SignIn) -> None:
    tokens = sign_in("expired-refresh@example.com")
    with time_machine.travel(utcnow() + timedelta(days=31)):
        resp = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert resp.status_code == 401
    assert resp.json()["code"] == "invalid_refresh_token"


def test_refresh_tokens_are_stored_hashed(
    client: TestClient, sign_in: SignIn, db: Database
) -> None:
    tokens = sign_in("stored@example.com")
    hashes = db.query(lambda s: s.scalars(select(RefreshToken.token_hash)).all())
    assert tokens["refresh_token"] not in hashes
    assert len(hashes) == 1


def test_sign_out_ends_this_session_only(client: TestClient, sign_in: SignIn) -> None:
    here = sign_in("out@example.com")
    there = sign_in("out@example.com")
    assert client.post("/api/v1/auth/sign-out", headers=bearer(here)).status_code == 204
    me = client.get(ME, headers=bearer(here))
    assert me.status_code == 401
    assert me.json()["code"] == "session_revoked"
    refused = client.post(REFRESH, json={"refresh_token": here["refresh_token"]})
    assert refused.json()["code"] == "invalid_refresh_token"
    assert client.get(ME, headers=bearer(there)).status_code == 200


def test_sign_out_all_ends_every_session(client: TestClient, sign_in: SignIn) -> None:
    sessions = [sign_in("all@example.com") for _ in range(3)]
    assert client.post("/api/v1/auth/sign-out-all", headers=bearer(sessions[0])).status_code == 204
    for tokens in sessions:
        assert client.get(ME, headers=bearer(tokens)).status_code == 401
        resp = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
        assert resp.status_code == 401


def test_revocation_seen_by_another_process_within_the_check_interval(
    client: TestClient, sign_in: SignIn, db: Database
) -> None:
    tokens = sign_in("elsewhere@example.com")
    assert client.get(ME, headers=bearer(tokens)).status_code == 200
    # another process signs the session out: this process's memory does not know
    db.mutation(auth.sign_out, tokens_sid(tokens))
    client.app.state.session_gate._live.clear()  # type: ignore[attr-defined]
    assert client.get(ME, headers=bearer(tokens)).status_code == 401


def tokens_sid(tokens: dict[str, Any]) -> str:
    return str(jwt.decode(tokens["access_token"], options={"verify_signature": False})["sid"])


def test_anonymous_and_malformed_credentials_are_401(client: TestClient) -> None:
    for headers, code in (
        ({}, "unauthorized"),
        ({"Authorization": "Bearer"}, "unauthorized"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "unauthorized"),
        ({"Authorization": "Bearer not.a.token"}, "invalid_token"),
        ({"Authorization": "Bearer " + "x" * 5000}, "invalid_token"),
    ):
        resp = client.get(ME, headers=headers)
        assert resp.status_code == 401, headers
        assert resp.json()["code"] == code
        assert resp.headers["content-type"] == "application/problem+json"


def test_expired_access_token_says_refresh(
    client: TestClient, db: Database, settings: Settings
) -> None:
    headers = db.mutation(lambda s: auth_headers(s, settings, make_user(s)))
    with time_machine.travel(utcnow() + timedelta(minutes=16)):
        resp = client.get(ME, headers=headers)
    assert resp.status_code == 401
    assert resp.json()["code"] == "token_expired"


def test_token_signed_by_an_unknown_key_or_for_another_audience_is_refused(
    client: TestClient, db: Database, settings: Settings
) -> None:
    user = db.mutation(lambda s: make_user(s))
    stranger = settings.model_copy(
        update={
            "auth": settings.auth.model_copy(
                update={"signing_keys": [SecretStr(new_signing_key_pem())]}
            )
        }
    )
    token, _ = issue_access_token(stranger, user.id, "sid_01JD3000000000000000000000")
    resp = client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert resp.json()["code"] == "invalid_token"


def test_published_jwks_verifies_our_access_tokens(client: TestClient, sign_in: SignIn) -> None:
    tokens = sign_in("jwks@example.com")
    resp = client.get("/.well-known/jwks.json")
    assert resp.status_code == 200
    assert "max-age" in resp.headers["cache-control"]
    keys = {k["kid"]: k for k in resp.json()["keys"]}
    assert all("d" not in k for k in keys.values())  # public halves only
    kid = jwt.get_unverified_header(tokens["access_token"])["kid"]
    claims = jwt.decode(
        tokens["access_token"],
        PyJWK.from_dict(keys[kid]).key,
        algorithms=["ES256"],
        audience="admitone",
    )
    assert claims["sub"] == tokens["user"]["id"]
    assert claims["sid"].startswith("sid_")


def test_signing_key_rotation_keeps_everyone_signed_in(
    app: FastAPI, client: TestClient, sign_in: SignIn, settings: Settings
) -> None:
    before = sign_in("rotate@example.com")
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    rotated_keys = [SecretStr(new_signing_key_pem()), *settings.auth.signing_keys]
    app.state.settings = settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"signing_keys": rotated_keys})}
    )
    assert client.get(ME, headers=bearer(before)).status_code == 200
    after = client.post(REFRESH, json={"refresh_token": before["refresh_token"]}).json()
    assert jwt.get_unverified_header(after["access_token"])["kid"] != old_kid
    assert len(client.get("/.well-known/jwks.json").json()["keys"]) == 2
    assert client.get(ME, headers=bearer(after)).status_code == 200


def test_sign_in_records_the_session_method_and_client(
    client: TestClient, sign_in: SignIn, db: Database
) -> None:
    tokens = sign_in("who@example.com")
    row = db.query(lambda s: s.get(AuthSession, tokens_sid(tokens)))
    assert row is not None
    assert row.method == "otp"
    assert row.user_agent == "testclient"
    assert row.ip == "testclient"


# --- concurrency (PostgreSQL) --------------------------------------------------------------


@pytest.mark.postgres
def test_one_refresh_token_used_twice_at_once_wins_once_and_ends_the_session(
    committed_db: Database, settings: Settings
) -> None:
    user = committed_db.mutation(lambda s: make_user(s))
    tokens = committed_db.mutation(auth.start_session, settings, user.id, method="otp")
    results: list[auth.RefreshOutcome] = []
    barrier = threading.Barrier(6)

    def use() -> None:
        barrier.wait()
        results.append(
            committed_db.mutation(auth.rotate_refresh_token, settings, tokens.refresh_token)
        )

    threads = [threading.Thread(target=use) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r.tokens is not None]
    assert len(winners) <= 1
    assert any(r.error is not None and r.error.code == "refresh_token_reused" for r in results)
    assert not committed_db.query(auth.is_session_live, tokens.session_id, user.id)


def test_a_remembered_token_still_expires_and_dies_with_its_key(
    app: FastAPI, client: TestClient, sign_in: SignIn, settings: Settings
) -> None:
    tokens = sign_in("remembered@example.com")
    assert client.get(ME, headers=bearer(tokens)).status_code == 200  # verified once
    with time_machine.travel(utcnow() + timedelta(minutes=16)):
        assert client.get(ME, headers=bearer(tokens)).json()["code"] == "token_expired"
    assert client.get(ME, headers=bearer(tokens)).status_code == 200
    # the key that signed it is withdrawn (say, it leaked): its tokens stop working at once
    app.state.settings = settings.model_copy(
        update={
            "auth": settings.auth.model_copy(
                update={"signing_keys": [SecretStr(new_signing_key_pem())]}
            )
        }
    )
    assert client.get(ME, headers=bearer(tokens)).json()["code"] == "invalid_token"


def test_purge_drops_long_expired_codes_and_refresh_tokens(
    client: TestClient, sign_in: SignIn, db: Database
) -> None:
    sign_in("purge@example.com")
    client.post("/api/v1/auth/otp/start", json={"email": "purge2@example.com"})
    assert db.mutation(auth.purge_expired) == 0
    with time_machine.travel(utcnow() + timedelta(days=32)):
        assert db.mutation(auth.purge_expired) == 3  # two codes, one refresh token


def test_purge_drops_only_what_expired_more_than_a_day_ago(
    db: Database, settings: Settings
) -> None:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        user = db.mutation(lambda s: make_user(s))
        db.mutation(auth.start_session, settings, user.id, method="otp")
        db.mutation(auth.start_email_sign_in, settings, kind="otp", email="edge@example.com")
    code_cutoff = start + timedelta(minutes=settings.auth.otp_minutes, days=1)
    token_cutoff = start + timedelta(days=settings.auth.refresh_token_days + 1)
    tick = timedelta(microseconds=1)
    for cutoff in (code_cutoff, token_cutoff):
        with time_machine.travel(cutoff, tick=False):
            assert db.mutation(auth.purge_expired) == 0  # expired exactly a day ago: kept
        with time_machine.travel(cutoff + tick, tick=False):
            assert db.mutation(auth.purge_expired) == 1


def test_a_session_ended_twice_keeps_the_time_it_first_ended(
    db: Database, settings: Settings
) -> None:
    user = db.mutation(lambda s: make_user(s))
    tokens = db.mutation(auth.start_session, settings, user.id, method="otp")
    first = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(first, tick=False):
        db.mutation(auth.sign_out, tokens.session_id)
    with time_machine.travel(first + timedelta(hours=1), tick=False):
        db.mutation(auth.sign_out, tokens.session_id)
        # a replay of its refresh token after the end revokes nothing more either
        replay = db.mutation(auth.rotate_refresh_token, settings, tokens.refresh_token)
    assert replay.error is not None
    assert replay.error.code == "invalid_refresh_token"
    row = db.query(lambda s: s.get(AuthSession, tokens.session_id))
    assert row is not None
    assert row.revoked_at == first


def test_a_retry_exactly_at_the_end_of_the_grace_window_gets_the_same_new_token(
    db: Database, settings: Settings
) -> None:
    user = db.mutation(lambda s: make_user(s))
    tokens = db.mutation(auth.start_session, settings, user.id, method="otp")
    phone = ("198.51.100.7", "phone")
    rotated_at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(rotated_at, tick=False):
        lost = db.mutation(auth.rotate_refresh_token, settings, tokens.refresh_token, phone)
    grace = timedelta(seconds=settings.auth.refresh_grace_seconds)
    with time_machine.travel(rotated_at + grace, tick=False):
        retry = db.mutation(auth.rotate_refresh_token, settings, tokens.refresh_token, phone)
    assert lost.tokens is not None
    assert retry.tokens is not None
    assert retry.tokens.refresh_token == lost.tokens.refresh_token


@pytest.mark.parametrize(
    ("first", "second"), [(None, ("198.51.100.7", "phone")), (("198.51.100.7", "phone"), None)]
)
def test_a_replay_is_a_reuse_when_either_use_named_no_client(
    db: Database,
    settings: Settings,
    first: tuple[str, str] | None,
    second: tuple[str, str] | None,
) -> None:
    user = db.mutation(lambda s: make_user(s))
    tokens = db.mutation(auth.start_session, settings, user.id, method="otp")
    db.mutation(auth.rotate_refresh_token, settings, tokens.refresh_token, first)
    replay = db.mutation(auth.rotate_refresh_token, settings, tokens.refresh_token, second)
    assert replay.error is not None
    assert replay.error.code == "refresh_token_reused"
    assert not db.query(auth.is_session_live, tokens.session_id, user.id)
