"""Google and Apple sign-in: real RS256 ID tokens checked against a local JWKS server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from admitone.auth import oidc
from admitone.auth.errors import GoogleDomainNotAllowed
from admitone.auth.models import AuthAccount
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.settings import Settings
from admitone.users.models import User
from admitone.users.service import link_identity
from tests.auth.conftest import APPLE_CLIENT, KEYS, FakeIdP, bearer
from tests.factories import make_user

GOOGLE = "/api/v1/auth/google"
APPLE = "/api/v1/auth/apple"
NOTIFY = "/api/v1/auth/apple/notifications"


def _users(db: Database) -> int:
    return db.query(lambda s: s.scalar(select(func.count()).select_from(User)))


def _refused(resp: Any, reason: str) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.json()["code"] == "invalid_id_token"
    assert resp.json()["reason"] == reason


# --- Google -------------------------------------------------------------------------------


def test_google_sign_in_creates_a_user_and_signs_in_again_as_them(
    client: TestClient, idp: FakeIdP, db: Database
) -> None:
    token = idp.sign("google", sub="g-1", email="Grace@Gmail.test", nonce="n-1")
    first = client.post(GOOGLE, json={"id_token": token, "nonce": "n-1"})
    assert first.status_code == 200, first.text
    assert first.json()["user"]["email"] == "grace@gmail.test"
    again = client.post(GOOGLE, json={"id_token": idp.sign("google", sub="g-1")})
    assert again.json()["user"]["id"] == first.json()["user"]["id"]
    assert client.get("/api/v1/me", headers=bearer(again.json())).status_code == 200
    assert _users(db) == 1


def test_google_links_to_the_user_with_the_same_verified_email(
    client: TestClient, idp: FakeIdP, sign_in: Callable[[str], dict[str, Any]], db: Database
) -> None:
    by_code = sign_in("same@example.com")
    resp = client.post(GOOGLE, json={"id_token": idp.sign("google", email="same@example.com")})
    assert resp.json()["user"]["id"] == by_code["user"]["id"]
    providers = db.query(
        lambda s: sorted(
            s.scalars(
                select(AuthAccount.provider).where(AuthAccount.user_id == by_code["user"]["id"])
            )
        )
    )
    assert providers == ["email", "google"]


def test_any_configured_client_id_is_an_accepted_audience(client: TestClient, idp: FakeIdP) -> None:
    token = idp.sign("google", aud="google-ios-client")
    assert client.post(GOOGLE, json={"id_token": token}).status_code == 200


def test_bare_google_issuer_form_is_accepted(client: TestClient, idp: FakeIdP) -> None:
    token = idp.sign("google", iss="accounts.google.com")
    assert client.post(GOOGLE, json={"id_token": token}).status_code == 200


@pytest.mark.parametrize("verified", [False, "false", None])
def test_unverified_google_email_never_links_or_creates(
    client: TestClient, idp: FakeIdP, db: Database, verified: object
) -> None:
    db.mutation(lambda s: make_user(s, email="victim@example.com"))
    token = idp.sign("google", email="victim@example.com", email_verified=verified)
    resp = client.post(GOOGLE, json={"id_token": token})
    assert resp.status_code == 403
    assert resp.json()["code"] == "email_not_verified"
    assert _users(db) == 1
    assert db.query(lambda s: s.scalar(select(func.count()).select_from(AuthAccount))) == 0


def test_tampered_token_is_refused(client: TestClient, idp: FakeIdP) -> None:
    token = idp.sign("google", email="me@example.com")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["email"] = "admin@example.com"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    _refused(client.post(GOOGLE, json={"id_token": f"{header}.{forged}.{signature}"}), "signature")


def test_token_signed_by_a_key_not_published_under_its_kid_is_refused(
    client: TestClient, idp: FakeIdP
) -> None:
    _refused(
        client.post(GOOGLE, json={"id_token": idp.sign("google", kid="g1", key="rogue")}),
        "signature",
    )


def test_expired_token_is_refused_beyond_the_leeway(client: TestClient, idp: FakeIdP) -> None:
    now = int(utcnow().timestamp())
    expired = idp.sign("google", iat=now - 3600, exp=now - 120)
    _refused(client.post(GOOGLE, json={"id_token": expired}), "expired")
    within_leeway = idp.sign("google", iat=now - 3600, exp=now - 30)
    assert client.post(GOOGLE, json={"id_token": within_leeway}).status_code == 200


def test_wrong_audience_is_refused(client: TestClient, idp: FakeIdP) -> None:
    token = idp.sign("google", aud="someone-elses-app.apps.googleusercontent.com")
    _refused(client.post(GOOGLE, json={"id_token": token}), "audience")


def test_wrong_issuer_is_refused(client: TestClient, idp: FakeIdP) -> None:
    token = idp.sign("google", iss="https://accounts.google.com.evil.example")
    _refused(client.post(GOOGLE, json={"id_token": token}), "issuer")


def test_wrong_or_missing_nonce_is_refused(client: TestClient, idp: FakeIdP) -> None:
    token = idp.sign("google", nonce="expected")
    _refused(client.post(GOOGLE, json={"id_token": token, "nonce": "other"}), "nonce")
    bare = idp.sign("google")
    _refused(client.post(GOOGLE, json={"id_token": bare, "nonce": "expected"}), "nonce")


def test_token_without_exp_or_sub_is_refused(client: TestClient, idp: FakeIdP) -> None:
    _refused(client.post(GOOGLE, json={"id_token": idp.sign("google", exp=None)}), "missing_claim")
    _refused(client.post(GOOGLE, json={"id_token": idp.sign("google", sub=None)}), "missing_claim")


@pytest.mark.parametrize(
    "token", ["not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "x" * 9000]
)
def test_garbage_tokens_are_refused(client: TestClient, token: str) -> None:
    _refused(client.post(GOOGLE, json={"id_token": token}), "malformed")


def test_unsigned_and_hmac_tokens_are_refused(client: TestClient, idp: FakeIdP) -> None:
    claims = {"iss": "https://accounts.google.com", "aud": "x", "sub": "1", "exp": 9999999999}
    none = jwt.encode(claims, None, algorithm="none", headers={"kid": "g1"})
    _refused(client.post(GOOGLE, json={"id_token": none}), "malformed")
    # HS256 keyed with the public JWK text: the classic algorithm-confusion attack, built by
    # hand because PyJWT refuses to make it
    public = json.dumps(idp.jwks("google")["keys"][0]).encode()

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = b64(b'{"alg":"HS256","kid":"g1"}') + "." + b64(json.dumps(claims).encode())
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    _refused(client.post(GOOGLE, json={"id_token": f"{signing_input}.{b64(mac)}"}), "malformed")


def test_oversized_id_token_is_a_422(client: TestClient) -> None:
    assert client.post(GOOGLE, json={"id_token": "x" * 10_001}).status_code == 422


def test_keys_are_cached_and_refetched_on_unknown_kid_at_most_every_few_seconds(
    client: TestClient, idp: FakeIdP
) -> None:
    assert client.post(GOOGLE, json={"id_token": idp.sign("google")}).status_code == 200
    assert client.post(GOOGLE, json={"id_token": idp.sign("google")}).status_code == 200
    assert idp.fetches["google"] == 1

    idp.published["google"] = ["g2", "g1"]  # Google rotates in a new key
    rotated = idp.sign("google", kid="g2")
    # a kid we just looked for is not refetched at once (made-up kids cannot hammer Google)
    _refused(client.post(GOOGLE, json={"id_token": rotated}), "unknown_key")
    assert idp.fetches["google"] == 1
    with time_machine.travel(utcnow() + timedelta(seconds=11)):
        rotated = idp.sign("google", kid="g2")
        assert client.post(GOOGLE, json={"id_token": rotated}).status_code == 200
    assert idp.fetches["google"] == 2


def test_keys_are_refetched_when_the_cache_expires(client: TestClient, idp: FakeIdP) -> None:
    idp.max_age = 60
    assert client.post(GOOGLE, json={"id_token": idp.sign("google")}).status_code == 200
    with time_machine.travel(utcnow() + timedelta(seconds=61)):
        assert client.post(GOOGLE, json={"id_token": idp.sign("google")}).status_code == 200
    assert idp.fetches["google"] == 2


def test_unreachable_jwks_is_a_502_not_a_500(client: TestClient, idp: FakeIdP) -> None:
    idp.failing = True
    resp = client.post(GOOGLE, json={"id_token": idp.sign("google")})
    assert resp.status_code == 502
    assert resp.json()["code"] == "provider_unavailable"


def test_unconfigured_provider_is_503(client: TestClient, idp: FakeIdP, settings: Settings) -> None:
    client.app.state.settings = settings.model_copy(  # type: ignore[attr-defined]
        update={"auth": settings.auth.model_copy(update={"google_client_ids": []})}
    )
    resp = client.post(GOOGLE, json={"id_token": idp.sign("google")})
    assert resp.status_code == 503
    assert resp.json()["code"] == "provider_not_configured"


# --- Google hosted domains (Workspace) ----------------------------------------------------


def _allow_domains(client: TestClient, settings: Settings, domains: list[str]) -> None:
    client.app.state.settings = settings.model_copy(  # type: ignore[attr-defined]
        update={"auth": settings.auth.model_copy(update={"google_hosted_domains": domains})}
    )


def _domain_refused(resp: Any) -> None:
    assert resp.status_code == 403, resp.text
    assert resp.json()["code"] == "google_domain_not_allowed"


def test_google_account_of_an_allowed_domain_signs_in(
    client: TestClient, idp: FakeIdP, settings: Settings, db: Database
) -> None:
    _allow_domains(client, settings, ["acme.test", "other.test"])
    token = idp.sign("google", sub="g-acme", email="ada@acme.test", hd="acme.test")
    resp = client.post(GOOGLE, json={"id_token": token})
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"]["email"] == "ada@acme.test"
    assert _users(db) == 1


def test_google_account_of_another_domain_is_refused_and_nothing_is_created(
    client: TestClient, idp: FakeIdP, settings: Settings, db: Database
) -> None:
    _allow_domains(client, settings, ["acme.test"])
    token = idp.sign("google", email="eve@evil.test", hd="evil.test")
    _domain_refused(client.post(GOOGLE, json={"id_token": token}))
    # a look-alike domain or a subdomain is another domain
    for hd in ("acme.test.evil.test", "sub.acme.test", "acme.tes"):
        _domain_refused(client.post(GOOGLE, json={"id_token": idp.sign("google", hd=hd)}))
    assert _users(db) == 0
    assert db.query(lambda s: s.scalar(select(func.count()).select_from(AuthAccount))) == 0


def test_google_account_without_hd_is_refused_when_domains_are_set(
    client: TestClient, idp: FakeIdP, settings: Settings, db: Database
) -> None:
    _allow_domains(client, settings, ["acme.test"])
    # a personal account carries no `hd`, whatever its e-mail's domain says
    personal = idp.sign("google", email="ada@acme.test")
    _domain_refused(client.post(GOOGLE, json={"id_token": personal}))
    not_a_string = idp.sign("google", email="ada@acme.test", hd=["acme.test"])
    _domain_refused(client.post(GOOGLE, json={"id_token": not_a_string}))
    assert _users(db) == 0


def test_known_google_identity_is_refused_once_its_domain_is_not_allowed(
    client: TestClient, idp: FakeIdP, settings: Settings
) -> None:
    first = client.post(GOOGLE, json={"id_token": idp.sign("google", sub="g-old")})
    assert first.status_code == 200, first.text
    _allow_domains(client, settings, ["acme.test"])
    _domain_refused(client.post(GOOGLE, json={"id_token": idp.sign("google", sub="g-old")}))


def test_empty_domain_list_accepts_any_google_account(
    client: TestClient, idp: FakeIdP, settings: Settings
) -> None:
    assert settings.auth.google_hosted_domains == []
    gmail = idp.sign("google", email="someone@gmail.test")
    assert client.post(GOOGLE, json={"id_token": gmail}).status_code == 200
    workspace = idp.sign("google", email="ada@anything.test", hd="anything.test")
    assert client.post(GOOGLE, json={"id_token": workspace}).status_code == 200


@pytest.mark.parametrize(
    ("allowed", "hd"),
    [("Acme.Test", "acme.test"), ("acme.test", "ACME.test"), ("ACME.TEST", "Acme.Test")],
)
def test_hosted_domain_comparison_is_case_insensitive(
    client: TestClient, idp: FakeIdP, settings: Settings, allowed: str, hd: str
) -> None:
    _allow_domains(client, settings, [allowed])
    token = idp.sign("google", email="ada@acme.test", hd=hd)
    assert client.post(GOOGLE, json={"id_token": token}).status_code == 200


def test_hosted_domain_check_needs_no_database(settings: Settings, idp: FakeIdP) -> None:
    restricted = settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"google_hosted_domains": ["acme.test"]})}
    )
    identity = oidc.verify_google(restricted, idp.sign("google", sub="w", hd="acme.test"), None)
    assert identity.subject == "w"
    with pytest.raises(GoogleDomainNotAllowed):
        oidc.verify_google(restricted, idp.sign("google", sub="p"), None)


# --- Apple --------------------------------------------------------------------------------


def test_apple_sign_in_with_private_relay_email_keeps_the_first_name(
    client: TestClient, idp: FakeIdP
) -> None:
    sub = "001234.apple.0101"
    relay = "x7k2@privaterelay.appleid.com"
    first = client.post(
        APPLE,
        json={
            "id_token": idp.sign("apple", sub=sub, email=relay),
            "nonce": "raw-nonce",
            "name": "Tim Apple",
        },
    )
    assert first.status_code == 200, first.text
    assert first.json()["user"]["email"] == relay
    assert first.json()["user"]["name"] == "Tim Apple"
    # Apple sends the name only once; later sign-ins have none (or a client's guess)
    later = client.post(APPLE, json={"id_token": idp.sign("apple", sub=sub), "nonce": "raw-nonce"})
    assert later.json()["user"]["name"] == "Tim Apple"
    other = client.post(
        APPLE,
        json={"id_token": idp.sign("apple", sub=sub), "nonce": "raw-nonce", "name": "Someone"},
    )
    assert other.json()["user"]["name"] == "Tim Apple"
    me = client.get("/api/v1/me", headers=bearer(later.json())).json()
    assert me["name"] == "Tim Apple"


def test_apple_nonce_must_be_the_sha256_of_the_raw_nonce(client: TestClient, idp: FakeIdP) -> None:
    raw_in_token = idp.sign("apple", nonce="raw-nonce")
    _refused(client.post(APPLE, json={"id_token": raw_in_token, "nonce": "raw-nonce"}), "nonce")
    _refused(client.post(APPLE, json={"id_token": idp.sign("apple"), "nonce": "other"}), "nonce")
    good = idp.sign("apple", nonce=hashlib.sha256(b"mine").hexdigest())
    assert client.post(APPLE, json={"id_token": good, "nonce": "mine"}).status_code == 200


def test_apple_requires_a_nonce(client: TestClient, idp: FakeIdP) -> None:
    resp = client.post(APPLE, json={"id_token": idp.sign("apple")})
    assert resp.status_code == 422


def test_apple_token_for_another_app_or_issuer_is_refused(client: TestClient, idp: FakeIdP) -> None:
    wrong_aud = idp.sign("apple", aud="com.other.app")
    _refused(client.post(APPLE, json={"id_token": wrong_aud, "nonce": "raw-nonce"}), "audience")
    google_iss = idp.sign("apple", iss="https://accounts.google.com")
    _refused(client.post(APPLE, json={"id_token": google_iss, "nonce": "raw-nonce"}), "issuer")
    # a Google-signed token is no Apple token
    google_signed = idp.sign("apple", kid="g1")
    _refused(
        client.post(APPLE, json={"id_token": google_signed, "nonce": "raw-nonce"}), "unknown_key"
    )


def test_apple_and_google_with_one_verified_email_are_one_user(
    client: TestClient, idp: FakeIdP, db: Database
) -> None:
    g = client.post(GOOGLE, json={"id_token": idp.sign("google", email="both@example.com")})
    a = client.post(
        APPLE,
        json={
            "id_token": idp.sign("apple", email="both@example.com", is_private_email=False),
            "nonce": "raw-nonce",
        },
    )
    assert g.json()["user"]["id"] == a.json()["user"]["id"]
    assert _users(db) == 1


# --- Apple server-to-server notifications -------------------------------------------------


def _notification(idp: FakeIdP, events: Any, **claims: Any) -> str:
    now = int(utcnow().timestamp())
    payload = {
        "iss": "https://appleid.apple.com",
        "aud": APPLE_CLIENT,
        "iat": now,
        "jti": "abc",
        "events": events,
        **claims,
    }
    return jwt.encode(payload, KEYS["a1"], algorithm="RS256", headers={"kid": "a1"})


def test_consent_revoked_disables_the_apple_link_and_ends_its_sessions(
    client: TestClient, idp: FakeIdP, db: Database
) -> None:
    sub = "000111.revoked.0101"
    signed_in = client.post(
        APPLE, json={"id_token": idp.sign("apple", sub=sub), "nonce": "raw-nonce"}
    ).json()
    assert client.get("/api/v1/me", headers=bearer(signed_in)).status_code == 200
    # Apple sends `events` as a JSON-encoded string
    event = json.dumps({"type": "consent-revoked", "sub": sub, "event_time": 1})
    resp = client.post(NOTIFY, json={"payload": _notification(idp, event)})
    assert resp.status_code == 200, resp.text

    after = client.get("/api/v1/me", headers=bearer(signed_in))
    assert after.status_code == 401
    assert after.json()["code"] == "session_revoked"
    disabled = db.query(
        lambda s: s.scalar(
            select(AuthAccount.disabled_at).where(AuthAccount.provider_account_id == sub)
        )
    )
    assert disabled is not None
    # signing in with Apple again means consent was given again: the link comes back
    back = client.post(APPLE, json={"id_token": idp.sign("apple", sub=sub), "nonce": "raw-nonce"})
    assert back.json()["user"]["id"] == signed_in["user"]["id"]


def test_account_delete_event_as_an_object_is_understood(
    client: TestClient, idp: FakeIdP, db: Database
) -> None:
    sub = "000111.deleted.0101"
    client.post(APPLE, json={"id_token": idp.sign("apple", sub=sub), "nonce": "raw-nonce"})
    event = {"type": "account-delete", "sub": sub, "event_time": 1}
    assert client.post(NOTIFY, json={"payload": _notification(idp, event)}).status_code == 200
    assert db.query(
        lambda s: s.scalar(
            select(AuthAccount.disabled_at).where(AuthAccount.provider_account_id == sub)
        )
    )


def test_unknown_event_types_and_subjects_are_acknowledged(
    client: TestClient, idp: FakeIdP
) -> None:
    for event in (
        {"type": "email-disabled", "sub": "000.x.1", "email": "a@privaterelay.appleid.com"},
        {"type": "consent-revoked", "sub": "nobody-we-know"},
    ):
        assert client.post(NOTIFY, json={"payload": _notification(idp, event)}).status_code == 200


def test_forged_or_unreadable_notifications_are_refused(client: TestClient, idp: FakeIdP) -> None:
    event = {"type": "consent-revoked", "sub": "000.x.1"}
    forged = jwt.encode(
        {"iss": "https://appleid.apple.com", "aud": APPLE_CLIENT, "iat": 1, "events": event},
        KEYS["rogue"],
        algorithm="RS256",
        headers={"kid": "a1"},
    )
    for payload in (
        forged,
        _notification(idp, event, aud="com.other.app"),
        _notification(idp, "not json"),
        _notification(idp, {"type": "consent-revoked"}),
        "garbage",
    ):
        resp = client.post(NOTIFY, json={"payload": payload})
        assert resp.status_code == 401, resp.text
        assert resp.json()["code"] == "invalid_notification"


# --- concurrency (PostgreSQL) --------------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_first_sign_ins_converge_on_one_user(committed_db: Database) -> None:
    errors: list[BaseException] = []
    ids: list[str] = []
    barrier = threading.Barrier(10)

    def sign_in(i: int) -> None:
        barrier.wait()
        try:
            ids.append(
                committed_db.mutation(
                    link_identity,
                    provider="google" if i % 2 else "apple",
                    subject=f"same-person-{i % 2}",
                    email="converge@example.com",
                    email_verified=True,
                )
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sign_in, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(ids)) == 1
    assert _users(committed_db) == 1
    accounts = committed_db.query(lambda s: s.scalar(select(func.count()).select_from(AuthAccount)))
    assert accounts == 2


def test_verify_functions_need_no_database(settings: Settings, idp: FakeIdP) -> None:
    identity = oidc.verify_google(settings, idp.sign("google", sub="abc"), None)
    assert identity.subject == "abc"
    assert identity.email_verified is True
