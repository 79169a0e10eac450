"""Magic links: single use, expiry, and redirects only to allow-listed origins."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from admitone.auth import service as auth
from admitone.auth.models import SignInCode
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.jobs import Job
from admitone.emails.service import unseal
from admitone.settings import Settings

START = "/api/v1/auth/magic-link/start"
VERIFY = "/api/v1/auth/magic-link/verify"
Mail = Callable[[str], dict[str, Any]]


def _link(read_mail: Mail, email: str) -> str:
    found = re.search(r"https?://\S+", read_mail(email)["text"])
    assert found
    return found[0]


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def test_magic_link_signs_in_once_and_lands_on_the_allowed_page(
    client: TestClient, read_mail: Mail
) -> None:
    start = client.post(
        START,
        json={"email": "link@example.com", "redirect_url": "https://app.admitone.test/welcome?x=1"},
    )
    assert start.status_code == 202
    link = _link(read_mail, "link@example.com")
    assert link.startswith("https://app.admitone.test/welcome?x=1&token=")
    token = _token(link)
    assert len(token) >= 43  # 32 random bytes

    resp = client.post(VERIFY, json={"token": token})
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"]["email"] == "link@example.com"
    assert resp.json()["redirect_url"] == "https://app.admitone.test/welcome?x=1"

    again = client.post(VERIFY, json={"token": token})
    assert again.status_code == 400
    assert again.json()["code"] == "invalid_magic_link"


def test_a_token_planted_in_the_redirect_is_replaced_by_the_links_own(
    client: TestClient, read_mail: Mail
) -> None:
    # Else the landing page could read the planted token first and sign the reader in as
    # whoever planted it.
    redirect = "https://app.admitone.test/welcome?token=planted&x=1"
    client.post(START, json={"email": "planted@example.com", "redirect_url": redirect})
    query = parse_qs(urlsplit(_link(read_mail, "planted@example.com")).query)
    assert query["x"] == ["1"]
    assert len(query["token"]) == 1
    assert query["token"] != ["planted"]


def test_magic_link_defaults_to_the_sign_in_page_of_base_url(
    client: TestClient, read_mail: Mail
) -> None:
    client.post(START, json={"email": "default@example.com"})
    link = _link(read_mail, "default@example.com")
    assert link.startswith("http://testserver/sign-in/link?token=")
    page = client.get(link.removeprefix("http://testserver"))
    assert page.status_code == 200
    assert "Sign in" in page.text


def test_expired_magic_link_is_refused(client: TestClient, read_mail: Mail) -> None:
    client.post(START, json={"email": "old@example.com"})
    token = _token(_link(read_mail, "old@example.com"))
    with time_machine.travel(utcnow() + timedelta(minutes=15, seconds=1)):
        resp = client.post(VERIFY, json={"token": token})
    assert resp.status_code == 400
    assert resp.json()["code"] == "magic_link_expired"


def test_magic_link_expires_at_the_very_instant_its_fifteen_minutes_end(
    client: TestClient, read_mail: Mail, db: Database
) -> None:
    client.post(START, json={"email": "edge@example.com"})
    token = _token(_link(read_mail, "edge@example.com"))
    expires_at = db.query(
        lambda s: s.scalar(
            select(SignInCode.expires_at).where(SignInCode.email == "edge@example.com")
        )
    )
    with time_machine.travel(expires_at, tick=False):
        resp = client.post(VERIFY, json={"token": token})
    assert resp.status_code == 400
    assert resp.json()["code"] == "magic_link_expired"


def test_new_link_voids_the_previous_one(client: TestClient, read_mail: Mail) -> None:
    client.post(START, json={"email": "relink@example.com"})
    first = _token(_link(read_mail, "relink@example.com"))
    client.post(START, json={"email": "relink@example.com"})
    second = _token(_link(read_mail, "relink@example.com"))
    assert client.post(VERIFY, json={"token": first}).json()["code"] == "invalid_magic_link"
    assert client.post(VERIFY, json={"token": second}).status_code == 200


@pytest.mark.parametrize("token", ["x", "A" * 43, "' OR 1=1 --"])
def test_made_up_tokens_are_refused(client: TestClient, token: str) -> None:
    resp = client.post(VERIFY, json={"token": token})
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_magic_link"


@pytest.mark.parametrize("token", ["", "A" * 201])
def test_tokens_of_impossible_length_are_422(client: TestClient, token: str) -> None:
    assert client.post(VERIFY, json={"token": token}).status_code == 422


@pytest.mark.parametrize(
    "redirect_url",
    [
        "https://evil.example/",
        "https://app.admitone.test.evil.example/",
        "https://app.admitone.test@evil.example/",
        "https://evil.example/?next=https://app.admitone.test/",
        "http://app.admitone.test/",  # allowed origin is https only
        "https://app.admitone.test:8443/",
        "//evil.example/",
        "/relative/path",
        "javascript:alert(1)",
        "data:text/html,hi",
        "https://[::1",
        "https://app.admitone.test:99999/",
    ],
)
def test_open_redirect_attempts_are_refused_and_send_nothing(
    client: TestClient, db: Database, redirect_url: str
) -> None:
    resp = client.post(START, json={"email": "r@example.com", "redirect_url": redirect_url})
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "redirect_not_allowed"
    queued = db.query(lambda s: s.scalar(select(func.count()).select_from(Job)))
    assert queued == 0


@pytest.mark.postgres
def test_one_magic_link_clicked_twice_at_once_signs_in_once(
    committed_db: Database, settings: Settings
) -> None:
    committed_db.mutation(
        auth.start_email_sign_in,
        settings,
        kind="magic_link",
        email="click@example.com",
        redirect_url="http://testserver/",
    )
    args = committed_db.query(
        lambda s: s.scalars(select(Job.args).where(Job.name == "emails.send")).one()
    )
    token = _token(unseal(settings, args["context"])["url"])
    results: list[auth.CodeCheck] = []
    barrier = threading.Barrier(8)

    def click() -> None:
        barrier.wait()
        results.append(committed_db.mutation(auth.check_magic_link, settings, token))

    threads = [threading.Thread(target=click) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.error is None for r in results) == 1
