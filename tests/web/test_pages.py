"""The pages through HTTP (no browser): CSRF, sign-in, the purchase and the order page.
The browser walks of the same flows are in test_browser.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.db import Database
from tests.factories import (
    add_team_member,
    auth_headers,
    make_event,
    make_organization,
    make_tier,
    make_user,
)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(page: str) -> str:
    found = CSRF.search(page)
    assert found, "the page has no CSRF token"
    return found.group(1)


@pytest.fixture
def shop(db: Database) -> dict[str, Any]:
    def seed(session: Session) -> dict[str, Any]:
        owner = make_user(session)
        org = make_organization(session, owner)
        event = make_event(session, org, title="Lagos <b>Jazz</b>", published_at=utcnow())
        tier = make_tier(session, event, name="Regular", max_per_order=4)
        return {"slug": event.slug, "event_id": event.id, "tier_id": tier.id}

    return db.mutation(seed)


@pytest.fixture
def mail(client: TestClient, run_jobs: Callable[[], int]) -> Callable[[str], dict[str, Any]]:
    def read(email: str) -> dict[str, Any]:
        run_jobs()
        items = client.get("/dev/mailbox", params={"to": email}).json()["items"]
        assert items, f"no mail for {email}"
        return items[0]

    return read


def test_a_form_post_without_its_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/sign-in")  # sets the CSRF cookie
    resp = client.post("/sign-in", data={"email": "a@example.com"})
    assert resp.status_code == 403
    assert resp.json()["code"] == "csrf_token_invalid"
    wrong = client.post("/sign-in", data={"email": "a@example.com", "csrf_token": "x" * 64})
    assert wrong.status_code == 403


def test_sign_in_with_the_code_sets_an_http_only_cookie_and_sign_out_revokes_it(
    client: TestClient, mail: Callable[[str], dict[str, Any]]
) -> None:
    page = client.get("/sign-in?next=/door")
    sent = client.post(
        "/sign-in",
        data={"email": "Door@Example.com", "csrf_token": csrf(page.text), "next": "/door"},
    )
    assert sent.status_code == 200
    assert 'name="code"' in sent.text
    code = re.search(r"\b(\d{6})\b", mail("door@example.com")["text"])
    assert code
    done = client.post(
        "/sign-in/code",
        data={
            "email": "door@example.com",
            "code": code.group(1),
            "csrf_token": csrf(sent.text),
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/"  # never off-site
    cookie = done.headers["set-cookie"]
    assert "admitone_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    home = client.get("/")
    assert "Sign out" in home.text
    out = client.post("/sign-out", data={"csrf_token": csrf(home.text)}, follow_redirects=False)
    assert out.status_code == 303
    # The session row is revoked: the same cookie no longer signs anybody in.
    client.cookies.set("admitone_session", cookie.split("admitone_session=")[1].split(";")[0])
    assert "Sign out" not in client.get("/").text


def test_a_forged_session_cookie_signs_nobody_in(client: TestClient) -> None:
    client.cookies.set("admitone_session", "ses_x.usr_x.1.deadbeef")
    assert "Sign in" in client.get("/").text


def test_event_page_shows_the_event_escaped_and_buys_through_the_dev_checkout(
    client: TestClient, shop: dict[str, Any], run_jobs: Callable[[], int]
) -> None:
    page = client.get(f"/events/{shop['slug']}")
    assert page.status_code == 200
    assert "Lagos &lt;b&gt;Jazz&lt;/b&gt;" in page.text
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert f'<label for="qty-{shop["tier_id"]}">Regular' in page.text
    form = {
        "csrf_token": csrf(page.text),
        f"qty_{shop['tier_id']}": "2",
        "buyer_name": "Ada Obi",
        "buyer_email": "ada@example.com",
    }
    too_many = client.post(f"/events/{shop['slug']}", data={**form, f"qty_{shop['tier_id']}": "9"})
    assert too_many.status_code == 422
    assert 'role="alert"' in too_many.text
    placed = client.post(f"/events/{shop['slug']}", data=form, follow_redirects=False)
    assert placed.status_code == 303, placed.text
    checkout = placed.headers["location"].removeprefix("http://testserver")
    assert checkout.startswith("/support/v1/payments/dev/")
    dev_page = client.get(checkout)
    assert "<script" not in dev_page.text
    back = client.post(checkout + "/approve", data={"from": "page"}, follow_redirects=False)
    assert back.status_code == 303
    order_url = back.headers["location"]
    assert order_url.startswith("/orders/ord_")
    run_jobs()
    order = client.get(order_url)
    assert order.status_code == 200
    assert "Paid." in order.text
    qrs = re.findall(r'src="(/api/v1/passes/[^"]+/qr\.svg\?token=[^"]+)"', order.text)
    assert len(qrs) == 2
    svg = client.get(qrs[0].replace("&amp;", "&"))
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    # Another order's token does not open this pass; no token asks for sign-in.
    bare = qrs[0].split("?")[0]
    assert client.get(bare + "?token=" + "0" * 40).status_code == 404
    assert client.get(bare).status_code == 401
    # The order page needs its token (or the buyer signed in).
    assert client.get(order_url.split("?")[0] + "?token=nope").status_code == 404
    # Each pass offers its ticket PDF and both wallets, each opened by the order's token.
    pdf = re.findall(r'href="(/api/v1/passes/[^"]+/ticket\.pdf\?token=[^"]+)"', order.text)
    apple = re.findall(r'href="(/support/v1/passes/[^"]+/wallet\.pkpass\?token=[^"]+)"', order.text)
    google = re.findall(r'href="(/support/v1/passes/[^"]+/wallet/google\?[^"]+)"', order.text)
    assert len(pdf) == len(apple) == len(google) == 2
    ticket = client.get(pdf[0].replace("&amp;", "&"))
    assert ticket.status_code == 200
    assert ticket.content.startswith(b"%PDF")
    pkpass = client.get(apple[0].replace("&amp;", "&"))
    assert pkpass.status_code == 200
    assert pkpass.headers["content-type"] == "application/vnd.apple.pkpass"
    save = client.get(google[0].replace("&amp;", "&"), follow_redirects=False)
    assert save.status_code == 303
    assert save.headers["location"].startswith("https://pay.google.com/gp/v/save/")


def test_unknown_event_page_is_404(client: TestClient, db: Database) -> None:
    assert client.get("/events/no-such-event").status_code == 404


def sign_in(client: TestClient, mail: Callable[[str], dict[str, Any]], email: str) -> None:
    page = client.get("/sign-in")
    sent = client.post("/sign-in", data={"email": email, "csrf_token": csrf(page.text)})
    code = re.search(r"\b(\d{6})\b", mail(email)["text"])
    assert code
    done = client.post(
        "/sign-in/code",
        data={"email": email, "code": code.group(1), "csrf_token": csrf(sent.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303


def test_door_form_accepts_a_pass_once_then_says_already_checked_in(
    client: TestClient, db: Database, mail: Callable[[str], dict[str, Any]]
) -> None:
    def seed(session: Session) -> dict[str, Any]:
        owner = make_user(session)
        org = make_organization(session, owner)
        event = make_event(session, org, title="Door Night", published_at=utcnow())
        tier = make_tier(session, event, name="Free", price_amount=0)
        staff = make_user(session, email="staff@example.com")
        add_team_member(session, org, staff, "door_staff")
        return {"slug": event.slug, "event_id": event.id, "tier_id": tier.id}

    shop = db.mutation(seed)
    page = client.get(f"/events/{shop['slug']}")
    placed = client.post(
        f"/events/{shop['slug']}",
        data={
            "csrf_token": csrf(page.text),
            f"qty_{shop['tier_id']}": "1",
            "buyer_name": "Bola",
            "buyer_email": "bola@example.com",
        },
    )
    code = re.search(r'<code class="code">([^<]+)</code>', placed.text)
    assert code, placed.text
    assert client.get("/door", follow_redirects=False).headers["location"].startswith("/sign-in")
    sign_in(client, mail, "staff@example.com")
    door = client.get(f"/door?event={shop['event_id']}")
    assert door.status_code == 200
    assert '<label for="code">Code</label>' in door.text
    form = {"csrf_token": csrf(door.text), "code": code.group(1)}
    first = client.post(f"/door/{shop['event_id']}", data=form)
    assert "Accepted" in first.text
    assert "Bola" in first.text
    again = client.post(f"/door/{shop['event_id']}", data=form)
    assert "Already checked in" in again.text
    assert "First at" in again.text
    # The script's JSON call needs the CSRF header.
    bare = client.post(f"/door/{shop['event_id']}/scan", json={"code": code.group(1)})
    assert bare.status_code == 403
    scripted = client.post(
        f"/door/{shop['event_id']}/scan",
        json={"code": "NOPE"},
        headers={"X-CSRF-Token": csrf(door.text)},
    )
    assert scripted.json()["result"] == "invalid_code"
    synced = client.post(
        f"/door/{shop['event_id']}/sync",
        json={
            "scans": [{"code": code.group(1), "scanned_at": "2026-01-01T10:00:00Z", "nonce": "n1"}]
        },
        headers={"X-CSRF-Token": csrf(door.text)},
    )
    assert synced.status_code == 200
    assert len(synced.json()["results"]) == 1


def test_invitation_link_from_the_mailbox_page_is_accepted_after_signing_in(
    client: TestClient, db: Database, settings: Any, mail: Callable[[str], dict[str, Any]]
) -> None:
    def seed(session: Session) -> tuple[str, dict[str, str]]:
        owner = make_user(session, name="Olu <Owner>")
        org = make_organization(session, owner, name="Stage & Co")
        return org.id, auth_headers(session, settings, owner)

    org_id, owner = db.mutation(seed)
    sent = client.post(
        f"/api/v1/organizations/{org_id}/team",
        json={"email": "new@example.com", "role": "door_staff"},
        headers=owner,
    )
    assert sent.status_code in (200, 201), sent.text
    mail("new@example.com")
    box = client.get("/dev/mailbox?to=new@example.com", headers={"Accept": "text/html"})
    assert box.headers["content-type"].startswith("text/html")
    link = re.search(r'<a href="(http://testserver/invitations/[^"]+)">', box.text)
    assert link, box.text
    assert client.get("/dev/mailbox", headers={"Accept": "application/json"}).json()["items"]
    path = link.group(1).removeprefix("http://testserver")
    page = client.get(path)
    assert "Olu &lt;Owner&gt;" in page.text
    assert "Stage &amp; Co" in page.text
    assert "door staff" in page.text
    assert "Sign in to accept" in page.text
    sign_in(client, mail, "new@example.com")
    page = client.get(path)
    accepted = client.post(path, data={"csrf_token": csrf(page.text)})
    assert "You joined Stage &amp; Co" in accepted.text
    used = client.get(path)
    assert "already been used" in used.text
    assert client.get("/invitations/" + "x" * 43).status_code == 404


def test_manage_shows_sales_searches_orders_refunds_and_exports_the_door_list(
    client: TestClient, db: Database, mail: Callable[[str], dict[str, Any]]
) -> None:
    def seed(session: Session) -> dict[str, Any]:
        owner = make_user(session, email="owner@example.com")
        org = make_organization(session, owner)
        event = make_event(session, org, title="Sales Night", published_at=utcnow())
        tier = make_tier(session, event, name="Regular", price_amount=250000)
        return {"slug": event.slug, "event_id": event.id, "tier_id": tier.id}

    shop = db.mutation(seed)
    page = client.get(f"/events/{shop['slug']}")
    placed = client.post(
        f"/events/{shop['slug']}",
        data={
            "csrf_token": csrf(page.text),
            f"qty_{shop['tier_id']}": "2",
            "buyer_name": "=cmd|' /C calc'!A0",
            "buyer_email": "fan@example.com",
        },
        follow_redirects=False,
    )
    checkout = placed.headers["location"].removeprefix("http://testserver")
    client.post(checkout + "/approve", data={"from": "page"})
    assert client.get("/manage", follow_redirects=False).status_code == 303
    sign_in(client, mail, "owner@example.com")
    overview = client.get("/manage")
    assert "Sales Night" in overview.text
    assert "NGN 5,000.00" in overview.text
    detail = client.get(f"/manage/events/{shop['event_id']}", params={"q": "fan@"})
    assert "fan@example.com" in detail.text
    assert (
        client.get(f"/manage/events/{shop['event_id']}", params={"q": "nobody"}).text.count(
            "fan@example.com"
        )
        == 0
    )
    csv_text = client.get(f"/manage/events/{shop['event_id']}/door-list.csv").text
    assert len(csv_text.strip().splitlines()) == 3
    assert "'=cmd" in csv_text  # spreadsheet formulas neutralised
    form = re.search(r'action="(/manage/orders/[^"]+/refund)"', detail.text)
    assert form
    key = re.search(r'name="idempotency_key" value="([^"]+)"', detail.text)
    assert key
    done = client.post(
        form.group(1),
        data={"csrf_token": csrf(detail.text), "idempotency_key": key.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    after = client.get(done.headers["location"])
    assert "Refund recorded." in after.text
    assert "refunded" in after.text
    assert "NGN 0.00" in client.get("/manage").text
