"""E-mail OTP: start, verify, expiry, single use, attempts, rate limits, no enumeration."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from admitone.app import create_app
from admitone.auth import service as auth
from admitone.auth.errors import InvalidCode, TooManyAttempts
from admitone.auth.models import AuthAccount, SignInCode
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.jobs import Job
from admitone.emails.service import unseal
from admitone.settings import Settings
from admitone.users.models import User
from tests.auth.conftest import CODE, bearer
from tests.factories import make_user

START = "/api/v1/auth/otp/start"
VERIFY = "/api/v1/auth/otp/verify"
Mail = Callable[[str], dict[str, Any]]


def _code(read_mail: Mail, email: str) -> str:
    match = CODE.search(read_mail(email)["text"])
    assert match
    return match[1]


def _stored(db: Database, column: Any, email: str) -> Any:
    return db.query(lambda s: s.scalar(select(column).where(SignInCode.email == email)))


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_newcomer_signs_in_with_code_from_dev_mailbox(
    client: TestClient, read_mail: Mail, db: Database
) -> None:
    assert client.post(START, json={"email": "Ada@Example.COM"}).status_code == 202
    mail = read_mail("ada@example.com")
    assert mail["subject"].endswith("is your Admit One sign-in code")
    code = _code(read_mail, "ada@example.com")
    assert code in mail["html"]

    resp = client.post(VERIFY, json={"email": "ada@example.com", "code": code})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["user"]["email"] == "ada@example.com"
    assert body["user"]["email_verified"] is True
    me = client.get("/api/v1/me", headers=bearer(body))
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]
    accounts = db.query(
        lambda s: s.scalars(
            select(AuthAccount).where(AuthAccount.user_id == body["user"]["id"])
        ).all()
    )
    assert [(a.provider, a.provider_account_id) for a in accounts] == [("email", "ada@example.com")]


def test_existing_user_signs_in_as_themselves(
    client: TestClient, db: Database, sign_in: Callable[[str], dict[str, Any]]
) -> None:
    user = db.mutation(lambda s: make_user(s, email="known@example.com"))
    assert sign_in("KNOWN@example.com")["user"]["id"] == user.id


def test_start_answers_alike_for_known_and_unknown_addresses(
    client: TestClient, db: Database
) -> None:
    db.mutation(lambda s: make_user(s, email="exists@example.com"))
    known = client.post(START, json={"email": "exists@example.com"})
    unknown = client.post(START, json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    users = db.query(lambda s: s.scalar(select(func.count()).select_from(User)))
    assert users == 1  # starting creates nobody


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "a@", "@example.com", "", "a b@example.com", "x" * 320 + "@example.com", 42],
)
def test_malformed_email_is_a_422_problem(client: TestClient, email: object) -> None:
    for path, body in (
        (START, {"email": email}),
        (VERIFY, {"email": email, "code": "123456"}),
        ("/api/v1/auth/magic-link/start", {"email": email}),
    ):
        resp = client.post(path, json=body)
        assert resp.status_code == 422, (path, resp.text)
        assert resp.json()["code"] == "validation_error"


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "", "12 456"])
def test_code_of_the_wrong_shape_is_a_422(client: TestClient, code: str) -> None:
    resp = client.post(VERIFY, json={"email": "a@example.com", "code": code})
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"


def test_missing_body_and_malformed_json_are_4xx(client: TestClient) -> None:
    assert client.post(START).status_code == 422
    bad = client.post(START, content=b"{nope", headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "malformed_json"


def test_wrong_code_is_refused_and_says_how_many_tries_remain(
    client: TestClient, read_mail: Mail
) -> None:
    client.post(START, json={"email": "w@example.com"})
    code = _code(read_mail, "w@example.com")
    resp = client.post(VERIFY, json={"email": "w@example.com", "code": _wrong(code)})
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_code"
    assert resp.json()["attempts_left"] == 4
    assert client.post(VERIFY, json={"email": "w@example.com", "code": code}).status_code == 200


def test_code_for_an_address_without_one_is_invalid(client: TestClient) -> None:
    resp = client.post(VERIFY, json={"email": "never@example.com", "code": "123456"})
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_code"


def test_expired_code_is_refused(client: TestClient, read_mail: Mail) -> None:
    client.post(START, json={"email": "late@example.com"})
    code = _code(read_mail, "late@example.com")
    with time_machine.travel(utcnow() + timedelta(minutes=10, seconds=1)):
        resp = client.post(VERIFY, json={"email": "late@example.com", "code": code})
    assert resp.status_code == 400
    assert resp.json()["code"] == "code_expired"


def test_code_just_inside_ten_minutes_still_works(client: TestClient, read_mail: Mail) -> None:
    client.post(START, json={"email": "ontime@example.com"})
    code = _code(read_mail, "ontime@example.com")
    with time_machine.travel(utcnow() + timedelta(minutes=9, seconds=50)):
        resp = client.post(VERIFY, json={"email": "ontime@example.com", "code": code})
    assert resp.status_code == 200


def test_code_expires_at_the_very_instant_its_ten_minutes_end(
    client: TestClient, read_mail: Mail, db: Database
) -> None:
    client.post(START, json={"email": "edge@example.com"})
    code = _code(read_mail, "edge@example.com")
    expires_at = db.query(
        lambda s: s.scalar(
            select(SignInCode.expires_at).where(SignInCode.email == "edge@example.com")
        )
    )
    with time_machine.travel(expires_at, tick=False):
        resp = client.post(VERIFY, json={"email": "edge@example.com", "code": code})
    assert resp.status_code == 400
    assert resp.json()["code"] == "code_expired"


def test_code_pasted_with_spaces_or_dashes_is_accepted(client: TestClient, read_mail: Mail) -> None:
    client.post(START, json={"email": "paste@example.com"})
    code = _code(read_mail, "paste@example.com")
    pasted = f" {code[:3]} -{code[3:]} "
    resp = client.post(VERIFY, json={"email": "paste@example.com", "code": pasted})
    assert resp.status_code == 200, resp.text


def test_code_works_only_once(client: TestClient, read_mail: Mail) -> None:
    client.post(START, json={"email": "once@example.com"})
    code = _code(read_mail, "once@example.com")
    assert client.post(VERIFY, json={"email": "once@example.com", "code": code}).status_code == 200
    again = client.post(VERIFY, json={"email": "once@example.com", "code": code})
    assert again.status_code == 400
    assert again.json()["code"] == "invalid_code"


def test_new_code_voids_the_previous_one(client: TestClient, read_mail: Mail) -> None:
    client.post(START, json={"email": "two@example.com"})
    first = _code(read_mail, "two@example.com")
    client.post(START, json={"email": "two@example.com"})
    second = _code(read_mail, "two@example.com")
    if first != second:  # one chance in a million that they coincide
        old = client.post(VERIFY, json={"email": "two@example.com", "code": first})
        assert old.status_code == 400
    assert client.post(VERIFY, json={"email": "two@example.com", "code": second}).status_code == 200


def test_brute_force_burns_the_code_after_five_tries(client: TestClient, read_mail: Mail) -> None:
    client.post(START, json={"email": "brute@example.com"})
    code = _code(read_mail, "brute@example.com")
    codes = []
    for i in range(5):
        resp = client.post(VERIFY, json={"email": "brute@example.com", "code": _wrong(code)})
        codes.append(resp.json()["code"])
        assert resp.status_code == 400, i
    assert codes == ["invalid_code"] * 4 + ["too_many_attempts"]
    right = client.post(VERIFY, json={"email": "brute@example.com", "code": code})
    assert right.status_code == 400
    assert right.json()["code"] == "too_many_attempts"


def test_attempt_limit_holds_even_when_the_rate_limiter_is_reset(
    app: FastAPI, client: TestClient, read_mail: Mail, db: Database
) -> None:
    client.post(START, json={"email": "reset@example.com"})
    code = _code(read_mail, "reset@example.com")
    for _ in range(7):
        app.state.sign_in_limiter = None  # a restarted process forgets its memory limiter
        client.post(VERIFY, json={"email": "reset@example.com", "code": _wrong(code)})
    app.state.sign_in_limiter = None
    right = client.post(VERIFY, json={"email": "reset@example.com", "code": code})
    assert right.json()["code"] == "too_many_attempts"
    attempts = _stored(db, SignInCode.attempts, "reset@example.com")
    assert attempts == 5


def test_codes_are_stored_as_keyed_hashes(
    client: TestClient, read_mail: Mail, db: Database, settings: Settings
) -> None:
    client.post(START, json={"email": "hash@example.com"})
    code = _code(read_mail, "hash@example.com")
    stored = _stored(db, SignInCode.code_hash, "hash@example.com")
    assert stored != code
    assert stored != hashlib.sha256(code.encode()).hexdigest()
    assert stored == auth.code_hash(settings, "otp", "hash@example.com", code)


def test_the_queued_job_does_not_hold_the_code_in_clear(
    client: TestClient, db: Database, settings: Settings
) -> None:
    client.post(START, json={"email": "sealed@example.com"})
    args = db.query(lambda s: s.scalars(select(Job.args).where(Job.name == "emails.send")).all())
    assert len(args) == 1
    assert set(args[0]["context"]) == {"sealed"}
    code = unseal(settings, args[0]["context"])["code"]
    assert CODE.fullmatch(code)
    assert code not in json.dumps(args)


def test_sending_is_limited_per_address_with_retry_after(client: TestClient) -> None:
    spam = {"email": "spam@example.com"}
    statuses = [client.post(START, json=spam).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    limited = client.post(START, json={"email": "spam@example.com"})
    assert limited.json()["code"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= 15 * 60
    assert limited.json()["retry_after"] == int(limited.headers["Retry-After"])
    # another address from the same client is not affected by that address's limit
    assert client.post(START, json={"email": "other@example.com"}).status_code == 202


def test_sending_is_limited_per_client_ip(
    client: TestClient, app: FastAPI, settings: Settings
) -> None:
    app.state.settings = settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"send_limits_per_ip": "3 per hour"})}
    )
    statuses = [
        client.post(START, json={"email": f"ip{i}@example.com"}).status_code for i in range(4)
    ]
    assert statuses == [202, 202, 202, 429]
    magic = client.post("/api/v1/auth/magic-link/start", json={"email": "ip9@example.com"})
    assert magic.status_code == 429


def test_verifying_is_rate_limited_per_address(
    client: TestClient, app: FastAPI, settings: Settings
) -> None:
    app.state.settings = settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"verify_limits_per_email": "3 per hour"})}
    )
    statuses = [
        client.post(VERIFY, json={"email": "v@example.com", "code": "000000"}).status_code
        for _ in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    assert (
        "Retry-After"
        in client.post(VERIFY, json={"email": "v@example.com", "code": "000000"}).headers
    )


def test_rate_limit_window_moves_on(client: TestClient) -> None:
    for _ in range(3):
        client.post(START, json={"email": "wait@example.com"})
    assert client.post(START, json={"email": "wait@example.com"}).status_code == 429
    with time_machine.travel(utcnow() + timedelta(minutes=16)):
        assert client.post(START, json={"email": "wait@example.com"}).status_code == 202


# --- concurrency (PostgreSQL) --------------------------------------------------------------


def _start(db: Database, settings: Settings, email: str) -> str:
    """Starts a code and returns it (read from the sealed job context)."""
    db.mutation(auth.start_email_sign_in, settings, kind="otp", email=email)
    args = db.query(
        lambda s: s.scalars(
            select(Job.args).where(Job.name == "emails.send").order_by(Job.created_at.desc())
        ).first()
    )
    assert args is not None
    return str(unseal(settings, args["context"])["code"])


@pytest.mark.postgres
def test_concurrent_guesses_never_exceed_the_attempt_limit(
    committed_db: Database, settings: Settings
) -> None:
    code = _start(committed_db, settings, "race@example.com")
    wrong = _wrong(code)
    results: list[auth.CodeCheck] = []
    barrier = threading.Barrier(20)

    def guess() -> None:
        barrier.wait()
        results.append(committed_db.mutation(auth.check_otp, settings, "race@example.com", wrong))

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counted = [r for r in results if isinstance(r.error, InvalidCode) and r.error.extra]
    assert len(counted) == 4  # four wrong tries report tries left, the fifth burns the code
    assert sum(isinstance(r.error, TooManyAttempts) for r in results) == 16
    attempts = _stored(committed_db, SignInCode.attempts, "race@example.com")
    assert attempts == 5
    final = committed_db.mutation(auth.check_otp, settings, "race@example.com", code)
    assert isinstance(final.error, TooManyAttempts)


@pytest.mark.postgres
def test_the_right_code_sent_twice_at_once_signs_in_once(
    committed_db: Database, settings: Settings
) -> None:
    code = _start(committed_db, settings, "twice@example.com")
    results: list[auth.CodeCheck] = []
    barrier = threading.Barrier(8)

    def verify() -> None:
        barrier.wait()
        results.append(committed_db.mutation(auth.check_otp, settings, "twice@example.com", code))

    threads = [threading.Thread(target=verify) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.error is None for r in results) == 1


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.2).close()
    except OSError:
        return False
    return True


# CI sets ADMITONE_TEST_REDIS_URL (and starts Redis): there this test runs, never skips.
@pytest.mark.skipif(
    "ADMITONE_TEST_REDIS_URL" not in os.environ and not _redis_up(),
    reason="needs Redis on 127.0.0.1:6379 (CI sets ADMITONE_TEST_REDIS_URL)",
)
def test_limits_hold_across_processes_sharing_redis(settings: Settings, db: Database) -> None:
    shared = settings.model_copy(
        update={
            "auth": settings.auth.model_copy(
                update={
                    "rate_limit_storage": "redis://127.0.0.1:6379/0",
                    "rate_limit_namespace": f"test-{uuid.uuid4().hex}",
                }
            )
        }
    )
    email = f"{uuid.uuid4().hex}@example.com"  # keys in a shared Redis must not collide
    first = create_app(shared, db, run_worker=False)
    second = create_app(shared, db, run_worker=False)
    with TestClient(first) as one, TestClient(second) as two:
        statuses = [one.post(START, json={"email": email}).status_code for _ in range(3)]
        assert statuses == [202, 202, 202]
        assert two.post(START, json={"email": email}).status_code == 429


def test_magic_link_guessing_is_limited_per_ip(
    client: TestClient, app: FastAPI, settings: Settings
) -> None:
    app.state.settings = settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"verify_limits_per_ip": "3 per hour"})}
    )
    statuses = [
        client.post("/api/v1/auth/magic-link/verify", json={"token": f"guess-{i}"}).status_code
        for i in range(4)
    ]
    assert statuses == [400, 400, 400, 429]


def test_sign_in_keeps_working_with_per_process_limits_when_redis_is_down(
    settings: Settings, db: Database
) -> None:
    unreachable = settings.model_copy(
        update={
            "auth": settings.auth.model_copy(
                update={"rate_limit_storage": "redis://127.0.0.1:1/0"}  # nothing listens there
            )
        }
    )
    email = f"{uuid.uuid4().hex}@example.com"
    with TestClient(create_app(unreachable, db, run_worker=False)) as client:
        statuses = [client.post(START, json={"email": email}).status_code for _ in range(4)]
    # never a 500: the first three are sent, the fourth is limited in this process's memory
    assert statuses == [202, 202, 202, 429]
