"""An order's e-mails and their delivery state for the organizer, and the buyer's
self-service "resend my tickets" after an e-mail code."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from admitone.core.db import Database
from admitone.emails.models import EmailDelivery
from admitone.emails.service import queue_email
from admitone.settings import Settings
from tests.factories import (
    add_team_member,
    auth_headers,
    make_event,
    make_order,
    make_organization,
    make_tier,
    make_user,
)


def _sent_to(db: Database, email: str, template: str) -> list[EmailDelivery]:
    return db.query(
        lambda s: s.scalars(
            select(EmailDelivery).where(
                EmailDelivery.recipient == email, EmailDelivery.template == template
            )
        ).all()
    )


def test_organizer_sees_each_order_email_and_its_state(
    db: Database, settings: Settings, client: TestClient, run_jobs: Callable[[], int]
) -> None:
    with db.session() as s:
        owner = make_user(s)
        org = make_organization(s, owner)
        event = make_event(s, org)
        order, _ = make_order(s, event, make_tier(s, event), buyer_email="ada@example.com")
        headers = auth_headers(s, settings, owner)
        door = make_user(s)
        add_team_member(s, org, door, "door_staff")
        door_headers = auth_headers(s, settings, door)
        stranger_headers = auth_headers(s, settings, make_user(s))
    db.mutation(
        lambda s: queue_email(
            s,
            to="ada@example.com",
            template="sign_in_code",
            context={"order_id": order.id, "code": "123456", "minutes": 10},
        )
    )
    url = f"/api/v1/orders/{order.id}/emails"
    [queued] = client.get(url, headers=headers).json()["items"]
    assert queued["status"] == "queued"
    assert queued["to"] == "a***@example.com"
    run_jobs()
    [sent] = client.get(url, headers=headers).json()["items"]
    assert sent["status"] == "sent"
    assert sent["sent_at"] is not None
    assert client.get(url, headers=door_headers).status_code == 403
    assert client.get(url, headers=stranger_headers).status_code == 404
    assert client.get(url).status_code == 401


def test_buyer_resends_their_tickets_after_an_email_code(
    db: Database, client: TestClient, run_jobs: Callable[[], int]
) -> None:
    with db.session() as s:
        owner = make_user(s)
        event = make_event(s, make_organization(s, owner), title="Gala")
        tier = make_tier(s, event)
        make_order(s, event, tier, buyer_email="Ada@Example.com")
        make_order(s, event, tier, buyer_email="ada@example.com")
        make_order(s, event, tier, buyer_email="ada@example.com", status="cancelled", paid_at=None)
    start = "/api/v1/public/orders/resend"
    verify = "/api/v1/public/orders/resend/verify"
    nobody = client.post(start, json={"email": "nobody@example.com"})
    mine = client.post(start, json={"email": "ada@example.com"})
    assert nobody.status_code == mine.status_code == 202
    assert nobody.json() == mine.json()  # nothing learned about the address
    run_jobs()
    assert _sent_to(db, "nobody@example.com", "resend_code") == []
    [mail] = _sent_to(db, "ada@example.com", "resend_code")
    match = re.search(r"\b(\d{6})\b", mail.text_body or "")
    assert match is not None
    code = match.group(1)
    wrong = "000000" if code != "000000" else "111111"
    bad = client.post(verify, json={"email": "ada@example.com", "code": wrong})
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_code"
    assert client.post(verify, json={"email": "ada@example.com", "code": "12"}).status_code == 422
    ok = client.post(verify, json={"email": "ADA@example.com", "code": code})
    assert ok.json() == {"resent": 2}
    run_jobs()
    confirmations = _sent_to(db, "ada@example.com", "order_confirmation")
    confirmations += _sent_to(db, "Ada@Example.com", "order_confirmation")
    assert len(confirmations) == 2
    assert all("Gala" in (c.subject or "") + (c.text_body or "") for c in confirmations)
    # a used code does not work twice
    again = client.post(verify, json={"email": "ada@example.com", "code": code})
    assert again.status_code == 422


def test_resend_codes_are_rate_limited_and_attempts_bounded(
    db: Database, client: TestClient, run_jobs: Callable[[], int]
) -> None:
    with db.session() as s:
        event = make_event(s, make_organization(s, make_user(s)))
        make_order(s, event, make_tier(s, event), buyer_email="eve@example.com")
    start = "/api/v1/public/orders/resend"
    assert client.post(start, json={"email": "eve@example.com"}).status_code == 202
    run_jobs()
    [mail] = _sent_to(db, "eve@example.com", "resend_code")
    match = re.search(r"\b(\d{6})\b", mail.text_body or "")
    assert match is not None
    code = match.group(1)
    verify = "/api/v1/public/orders/resend/verify"
    wrong = [f"{i:06d}" for i in range(6) if f"{i:06d}" != code][:5]
    for guess in wrong:
        assert (
            client.post(verify, json={"email": "eve@example.com", "code": guess}).status_code == 422
        )
    # five attempts used: the right code no longer works
    late = client.post(verify, json={"email": "eve@example.com", "code": code})
    assert late.status_code == 422
    for _ in range(2):
        assert client.post(start, json={"email": "eve@example.com"}).status_code == 202
    limited = client.post(start, json={"email": "eve@example.com"})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert client.post(start, json={"email": "not-an-email"}).status_code == 422
