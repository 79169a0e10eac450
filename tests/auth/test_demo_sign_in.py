"""The README's first steps: the demo organizer of `make run` signs in with an e-mail code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from admitone import demo
from admitone.core.db import Database
from admitone.settings import Settings
from tests.auth.conftest import CODE


def test_demo_organizer_signs_in_with_the_code_from_the_dev_mailbox(
    db: Database,
    settings: Settings,
    client: TestClient,
    read_mail: Callable[[str], dict[str, Any]],
) -> None:
    demo.seed(db, settings)
    start = client.post("/api/v1/auth/otp/start", json={"email": demo.DEMO_EMAIL})
    assert start.status_code == 202, start.text
    code = CODE.search(read_mail(demo.DEMO_EMAIL)["text"])
    assert code
    verify = client.post(
        "/api/v1/auth/otp/verify", json={"email": demo.DEMO_EMAIL, "code": code[1]}
    )
    assert verify.status_code == 200, verify.text
    me = client.get(
        "/api/v1/me/memberships",
        headers={"Authorization": f"Bearer {verify.json()['access_token']}"},
    )
    assert me.status_code == 200
    assert "Admit One Demo" in me.text
