"""The rules of e-mail codes, magic links and their redirects, case by case at the service
(found by mutation testing of `auth/service.py`: docs/mutation/sessions.md): codes of
different addresses and kinds never touch each other, a used code or link stays used, a
lost race to consume a code loses, the redirect check, and the stored digests' format."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from admitone.auth import service as auth
from admitone.auth.errors import RedirectNotAllowed
from admitone.auth.models import SignInCode
from admitone.auth.secrets import same as real_same
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.jobs import Job
from admitone.emails.service import unseal
from admitone.settings import Settings


def _start(db: Database, settings: Settings, kind: auth.CodeKind, email: str) -> str:
    """Starts a code or link and returns its secret (read from the sealed e-mail job)."""
    redirect = "http://testserver/sign-in/link" if kind == "magic_link" else None
    db.mutation(auth.start_email_sign_in, settings, kind=kind, email=email, redirect_url=redirect)
    args = db.query(
        lambda s: s.scalars(
            select(Job.args).where(Job.name == "emails.send").order_by(Job.created_at.desc())
        ).first()
    )
    assert args is not None
    context = unseal(settings, args["context"])
    if kind == "otp":
        return str(context["code"])
    return str(parse_qs(urlsplit(context["url"]).query)["token"][0])


def _otp(db: Database, settings: Settings, email: str, code: str) -> auth.CodeCheck:
    return db.mutation(auth.check_otp, settings, email, code)


def _error(check: auth.CodeCheck) -> str | None:
    return None if check.error is None else check.error.code


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _attempts(db: Database, email: str, kind: str = "otp") -> int | None:
    return db.query(
        lambda s: s.scalar(
            select(SignInCode.attempts).where(SignInCode.email == email, SignInCode.kind == kind)
        )
    )


# --- e-mail codes ----------------------------------------------------------------------------


def test_two_addresses_sent_the_same_six_digits_both_sign_in(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Six digits repeat across people: the stored hash binds the address, or the second
    # code would collide with the first (hashes are unique) and never be sent.
    monkeypatch.setattr(auth, "new_otp", lambda: "424242")
    assert _start(db, settings, "otp", "ann@example.com") == "424242"
    assert _start(db, settings, "otp", "ben@example.com") == "424242"
    assert _otp(db, settings, "ben@example.com", "424242").email == "ben@example.com"
    assert _otp(db, settings, "ann@example.com", "424242").email == "ann@example.com"


def test_one_addresss_guesses_and_sign_in_leave_another_addresss_code_alone(
    db: Database, settings: Settings
) -> None:
    ann = _start(db, settings, "otp", "ann@example.com")
    ben = _start(db, settings, "otp", "ben@example.com")
    assert _error(_otp(db, settings, "ann@example.com", _wrong(ann))) == "invalid_code"
    assert _attempts(db, "ann@example.com") == 1
    assert _attempts(db, "ben@example.com") == 0
    assert _otp(db, settings, "ann@example.com", ann).email == "ann@example.com"
    assert _otp(db, settings, "ben@example.com", ben).email == "ben@example.com"


def test_another_addresss_burnt_code_says_nothing_about_this_one(
    db: Database, settings: Settings
) -> None:
    code = _start(db, settings, "otp", "burnt@example.com")
    for _ in range(settings.auth.otp_max_attempts):
        _otp(db, settings, "burnt@example.com", _wrong(code))
    assert _error(_otp(db, settings, "burnt@example.com", code)) == "too_many_attempts"
    assert _error(_otp(db, settings, "fresh@example.com", code)) == "invalid_code"


def test_an_address_with_a_link_and_a_code_out_signs_in_with_the_code(
    db: Database, settings: Settings
) -> None:
    _start(db, settings, "magic_link", "both@example.com")
    code = _start(db, settings, "otp", "both@example.com")
    assert _error(_otp(db, settings, "both@example.com", _wrong(code))) == "invalid_code"
    assert _otp(db, settings, "both@example.com", code).email == "both@example.com"
    assert _attempts(db, "both@example.com", "magic_link") == 0  # the link was not counted


@pytest.mark.parametrize("tries_before", [0, 4])
def test_guesses_after_the_code_was_used_are_neither_counted_nor_a_burnt_code(
    db: Database, settings: Settings, tries_before: int
) -> None:
    # Used on the fifth try (its attempts at the limit) or at once: later tries are just
    # invalid, they count nothing and never report tries left or a burnt code.
    code = _start(db, settings, "otp", "used@example.com")
    for _ in range(tries_before):
        _otp(db, settings, "used@example.com", _wrong(code))
    assert _otp(db, settings, "used@example.com", code).email == "used@example.com"
    counted = _attempts(db, "used@example.com")
    for guess in (_wrong(code), code):
        check = _otp(db, settings, "used@example.com", guess)
        assert _error(check) == "invalid_code"
        assert check.error is not None
        assert check.error.extra == {}
    assert _attempts(db, "used@example.com") == counted


def test_a_code_consumed_by_a_rival_between_the_check_and_the_use_signs_in_only_once(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL's race (tests/auth/test_otp.py) played step by step: the rival's use lands
    # after this request counted its attempt and matched the code, before it consumes it.
    code = _start(db, settings, "otp", "race@example.com")
    within: list[Session] = []

    def rival_uses_it_first(a: str, b: str) -> bool:
        monkeypatch.setattr(auth, "same", real_same)
        within[0].execute(
            update(SignInCode)
            .where(SignInCode.email == "race@example.com")
            .values(consumed_at=utcnow())
        )
        return real_same(a, b)

    def check(session: Session) -> auth.CodeCheck:
        within.append(session)
        return auth.check_otp(session, settings, "race@example.com", code)

    monkeypatch.setattr(auth, "same", rival_uses_it_first)
    result = db.mutation(check)
    assert result.email is None
    assert _error(result) == "invalid_code"


# --- magic links ---------------------------------------------------------------------------


def test_a_magic_link_just_inside_its_fifteen_minutes_still_works(
    db: Database, settings: Settings
) -> None:
    assert settings.auth.magic_link_minutes != settings.auth.otp_minutes
    token = _start(db, settings, "magic_link", "late-link@example.com")
    minutes = settings.auth.magic_link_minutes
    with time_machine.travel(utcnow() + timedelta(minutes=minutes, seconds=-10)):
        check = db.mutation(auth.check_magic_link, settings, token)
    assert check.email == "late-link@example.com"


def test_an_unknown_token_is_invalid_even_when_another_link_has_expired(
    db: Database, settings: Settings
) -> None:
    _start(db, settings, "magic_link", "expired@example.com")
    with time_machine.travel(utcnow() + timedelta(hours=1)):
        check = db.mutation(auth.check_magic_link, settings, "A" * 43)
    assert _error(check) == "invalid_magic_link"


def test_a_used_link_stays_used_once_it_has_expired(db: Database, settings: Settings) -> None:
    token = _start(db, settings, "magic_link", "used-link@example.com")
    assert db.mutation(auth.check_magic_link, settings, token).email == "used-link@example.com"
    with time_machine.travel(utcnow() + timedelta(hours=1)):
        check = db.mutation(auth.check_magic_link, settings, token)
    assert _error(check) == "invalid_magic_link"


# --- where a magic link may land -----------------------------------------------------------


def _with(settings: Settings, base_url: str, origins: list[str]) -> Settings:
    auth_settings = settings.auth.model_copy(update={"allowed_redirect_origins": origins})
    return settings.model_copy(update={"base_url": base_url, "auth": auth_settings})


def test_the_default_landing_page_is_under_the_base_url_as_configured(settings: Settings) -> None:
    # A trailing slash is dropped once, and nothing else (a host may end in any letter).
    configured = _with(settings, "https://TICKETS.BOX/", [])
    assert auth.check_redirect(configured, None) == "https://TICKETS.BOX/sign-in/link"


def test_the_instances_own_origin_is_allowed_without_being_listed(settings: Settings) -> None:
    own = _with(settings, "https://tickets.example/", [])
    assert auth.check_redirect(own, "https://tickets.example/welcome") == (
        "https://tickets.example/welcome"
    )
    with pytest.raises(RedirectNotAllowed):
        auth.check_redirect(own, "https://app.example/welcome")


def test_a_listed_origin_with_a_trailing_slash_is_the_same_origin(settings: Settings) -> None:
    listed = _with(settings, "https://tickets.example", ["https://APP.BOX/"])
    assert auth.check_redirect(listed, "https://app.box/welcome") == "https://app.box/welcome"


def test_plain_http_origins_are_allowed_when_listed(settings: Settings) -> None:
    local = _with(settings, "http://localhost:8000", ["http://127.0.0.1:8000"])
    assert auth.check_redirect(local, "http://127.0.0.1:8000/x") == "http://127.0.0.1:8000/x"
    assert auth.check_redirect(local, "http://localhost:8000/y") == "http://localhost:8000/y"


@pytest.mark.parametrize(
    "redirect_url",
    [
        "https://someone@app.example/welcome",  # userinfo, even before an allowed host
        "https://a:b@app.example/welcome",
        "admitone://app.example/welcome",  # a listed origin of another scheme: still no
        "ftp://app.example/welcome",
    ],
)
def test_userinfo_and_schemes_other_than_http_are_refused_even_for_a_listed_host(
    settings: Settings, redirect_url: str
) -> None:
    listed = _with(
        settings,
        "https://tickets.example",
        ["https://app.example", "admitone://app.example", "ftp://app.example"],
    )
    with pytest.raises(RedirectNotAllowed):
        auth.check_redirect(listed, redirect_url)


# --- stored digests --------------------------------------------------------------------------


def _hmac(settings: Settings, *parts: str) -> str:
    return hmac.new(settings.secret, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()


def test_stored_digests_keep_their_format_across_releases(settings: Settings) -> None:
    # Codes, links and refresh tokens in flight are looked up by these digests: a release
    # that changed one would void every outstanding code and link, and (for the child
    # token and the client mark) turn a phone's retry within the grace window into a reuse
    # that ends its session. HMAC-SHA256 under the platform secret, purpose first, parts
    # joined by U+001F (admitone.auth.secrets.keyed_hash).
    email, secret, raw = "ann@example.com", "424242", "parent-refresh-token"
    assert auth.code_hash(settings, "otp", email, secret) == _hmac(settings, "otp", email, secret)
    assert auth.code_hash(settings, "magic_link", email, raw) == _hmac(settings, "magic_link", raw)
    assert auth._child_token(settings, raw) == _hmac(settings, "refresh-child", raw)
    client = ("198.51.100.7", "phone")
    mark: Any = auth._client_mark(settings, client)
    assert mark == _hmac(settings, "refresh-client", "198.51.100.7|phone")
    assert auth._client_mark(settings, None) is None
