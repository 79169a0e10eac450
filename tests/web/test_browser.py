"""The pages in a real browser (headless Chromium through Playwright) against the app
served by uvicorn: buying with the dev provider and reading the QR codes off the screen,
the door, sign-in by code and by magic link, an invitation, escaping, CSRF, phone width."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone import demo
from admitone.core.clock import utcnow
from admitone.events.models import Event
from tests.factories import make_event, make_organization, make_tier, make_user
from tests.web.conftest import Served

XSS = "<img src=x onerror=alert(1)>"


def wait_until(page: Any, expression: str, timeout: float = 60.0) -> None:
    """Polls `expression` from the test side. Playwright's `wait_for_function` compiles its
    predicate with eval inside the page when it has to poll, which the pages' strict CSP
    (no 'unsafe-eval') refuses; `evaluate` runs through the browser's protocol instead."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        page.wait_for_timeout(100)


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"{page.url} scrolls sideways at {inner}px ({width}px wide)"


def demo_slug(served: Served) -> str:
    demo.seed(served.db, served.settings)

    def slug(session: Session) -> str:
        found = session.scalar(select(Event.slug).where(Event.title == "Admit One Demo Night"))
        assert found
        return found

    return served.db.query(slug)


def sign_in_with_code(page: Any, served: Served, email: str, next_path: str = "/") -> None:
    page.goto(f"{served.base_url}/sign-in?next={next_path}")
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="E-mail me a code").click()
    page.wait_for_selector("#code")
    mail = served.mailbox(email)[0]
    code = re.search(r"\b(\d{6})\b", mail["text"])
    assert code, mail["text"]
    page.get_by_label("Code").fill(code.group(1))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.get_by_role("button", name="Sign out").is_visible()


@pytest.mark.committed
def test_buyer_buys_two_tickets_and_door_staff_admits_one_once(
    served: Served, phone: Any, browser: Any, shoot: Callable[[Any, str], None]
) -> None:
    slug = demo_slug(served)
    page = phone
    page.goto(f"{served.base_url}/")
    no_sideways_scroll(page)
    shoot(page, "home")
    page.goto(f"{served.base_url}/events/{slug}")
    no_sideways_scroll(page)
    shoot(page, "event")
    page.get_by_label("VIP — quantity").fill("2")
    page.get_by_label("Your name").fill("Ada Obi")
    page.get_by_label("E-mail for the tickets").fill("ada@example.com")
    page.get_by_role("button", name="Get tickets").click()
    page.wait_for_url(re.compile(r".*/support/v1/payments/dev/.*"))
    no_sideways_scroll(page)
    shoot(page, "dev-checkout")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(r".*/orders/ord_[0-9A-Z]+\?token=.*"))
    page.wait_for_selector("img.qr")
    wait_until(
        page,
        "Array.from(document.querySelectorAll('img.qr')).every(i => i.complete && i.naturalWidth)",
    )
    assert "Paid." in page.inner_text("#order-status")
    no_sideways_scroll(page)
    shoot(page, "order")
    order_id = re.search(r"/orders/(ord_[0-9A-Z]+)", page.url).group(1)  # type: ignore[union-attr]
    token = re.search(r"token=([0-9a-f]+)", page.url).group(1)  # type: ignore[union-attr]
    order = httpx.get(
        f"{served.base_url}/api/v1/orders/{order_id}", params={"token": token}, timeout=10
    ).json()
    payloads = sorted(p["qr"] for p in order["passes"])
    assert len(payloads) == 2
    shot = Image.open(io.BytesIO(page.screenshot(full_page=True)))
    decoded = sorted(
        b.text for b in zxingcpp.read_barcodes(shot) if b.format == zxingcpp.BarcodeFormat.QRCode
    )
    assert decoded == payloads
    assert page.errors == []  # type: ignore[attr-defined]

    # The door: door staff signs in with the e-mailed code and types one pass's code.
    door_context = browser.new_context(viewport={"width": 390, "height": 844})
    door = door_context.new_page()
    door.errors = []
    door.on("pageerror", lambda exc: door.errors.append(str(exc)))
    try:
        door.goto(f"{served.base_url}/door")
        assert "/sign-in" in door.url
        sign_in_with_code(door, served, demo.DOOR_EMAIL, "/door")
        door.goto(f"{served.base_url}/door?event={order['event_id']}")
        no_sideways_scroll(door)
        shoot(door, "door")
        code = order["passes"][0]["code"]
        door.get_by_label("Code").fill(code)
        door.get_by_role("button", name="Check in").click()
        door.wait_for_selector("#result.result-accepted")
        assert "Accepted" in door.inner_text("#result")
        assert "Ada Obi" in door.inner_text("#result") or "VIP" in door.inner_text("#result")
        shoot(door, "door-accepted")
        wait_until(door, "document.getElementById('count-in').textContent === '1'")
        door.get_by_role("button", name="Next scan").click()
        door.get_by_label("Code").fill(code)
        door.get_by_role("button", name="Check in").click()
        door.wait_for_selector("#result.result-already_checked_in")
        text = door.inner_text("#result")
        assert "Already checked in" in text
        assert "First at" in text
        shoot(door, "door-repeat")
        assert door.errors == []
        # The organizer's view of the same event.
        door.context.clear_cookies()
        sign_in_with_code(door, served, demo.DEMO_EMAIL, "/manage")
        door.goto(f"{served.base_url}/manage")
        assert "Admit One Demo Night" in door.inner_text("main")
        no_sideways_scroll(door)
        shoot(door, "manage")
        door.get_by_role("link", name="Admit One Demo Night").click()
        assert "ada@example.com" in door.inner_text("main")
        no_sideways_scroll(door)
        shoot(door, "manage-event")
    finally:
        door_context.close()


@pytest.mark.committed
def test_magic_link_from_the_mailbox_signs_in_on_the_serving_port(
    served: Served, phone: Any, shoot: Callable[[Any, str], None]
) -> None:
    page = phone
    page.goto(f"{served.base_url}/sign-in")
    no_sideways_scroll(page)
    shoot(page, "sign-in")
    page.get_by_label("E-mail").fill("linky@example.com")
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    page.wait_for_selector("text=We sent a sign-in link")
    served.drain()
    page.goto(f"{served.base_url}/dev/mailbox?to=linky@example.com")
    no_sideways_scroll(page)
    shoot(page, "mailbox")
    link = page.locator("a[href*='/sign-in/link?token=']").first
    href = link.get_attribute("href")
    assert href is not None
    assert href.startswith(f"{served.base_url}/sign-in/link?token=")
    link.click()
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.url == f"{served.base_url}/"
    assert page.get_by_role("button", name="Sign out").is_visible()
    # The link worked once.
    page.goto(href)
    page.get_by_role("button", name="Sign in").click()
    assert "already used" in page.inner_text("main")


@pytest.mark.committed
def test_an_invitation_link_from_the_mailbox_is_accepted_in_the_browser(
    served: Served, phone: Any, shoot: Callable[[Any, str], None]
) -> None:
    def seed(session: Session) -> str:
        owner = make_user(session, email="boss@example.com", name="Boss")
        org = make_organization(session, owner, name="Invite Org")
        return org.id

    org_id = served.db.mutation(seed)
    page = phone
    sign_in_with_code(page, served, "boss@example.com")
    # The owner invites through the API with a token of their own session is the API's job;
    # here the page's session posts through the same team route with a bearer token.
    from admitone.auth.tokens import issue_access_token

    def owner_token(session: Session) -> str:
        from admitone.auth.models import AuthSession
        from admitone.users.models import User

        user = session.scalar(select(User).where(User.email == "boss@example.com"))
        assert user is not None
        sid = session.scalar(select(AuthSession.id).where(AuthSession.user_id == user.id))
        assert sid is not None
        return issue_access_token(served.settings, user.id, sid)[0]

    bearer = served.db.query(owner_token)
    sent = httpx.post(
        f"{served.base_url}/api/v1/organizations/{org_id}/team",
        json={"email": "joiner@example.com", "role": "manager"},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=10,
    )
    assert sent.status_code in (200, 201), sent.text
    served.drain()
    page.context.clear_cookies()
    page.goto(f"{served.base_url}/dev/mailbox?to=joiner@example.com")
    page.locator("a[href*='/invitations/']").first.click()
    assert "Invite Org" in page.inner_text("main")
    no_sideways_scroll(page)
    shoot(page, "invitation")
    page.get_by_role("link", name="Sign in to accept").click()
    page.get_by_label("E-mail").fill("joiner@example.com")
    page.get_by_role("button", name="E-mail me a code").click()
    code = re.search(r"\b(\d{6})\b", served.mailbox("joiner@example.com")[0]["text"])
    assert code
    page.get_by_label("Code").fill(code.group(1))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/invitations/.*"))
    page.get_by_role("button", name="Accept invitation").click()
    page.wait_for_selector("text=You joined Invite Org")


@pytest.mark.committed
def test_a_hostile_title_is_shown_as_text_and_runs_nothing(served: Served, phone: Any) -> None:
    def seed(session: Session) -> str:
        owner = make_user(session)
        org = make_organization(session, owner)
        event = make_event(session, org, title=XSS, published_at=utcnow(), description=XSS)
        make_tier(session, event, name=XSS)
        return event.slug

    slug = served.db.mutation(seed)
    page = phone
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    for path in (f"/events/{slug}", "/"):
        page.goto(served.base_url + path)
        assert XSS in page.inner_text("main")
        assert page.locator("main img[src=x]").count() == 0
    assert dialogs == []


@pytest.mark.committed
def test_a_form_post_without_its_csrf_token_is_refused(served: Served, phone: Any) -> None:
    page = phone
    page.goto(f"{served.base_url}/sign-in")
    status = page.evaluate(
        """async () => {
            const body = new URLSearchParams({email: "x@example.com", method: "otp"});
            const r = await fetch("/sign-in", {method: "POST", body});
            return [r.status, (await r.json()).code];
        }"""
    )
    assert status == [403, "csrf_token_invalid"]
    page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    page.get_by_label("E-mail").fill("x@example.com")
    page.get_by_role("button", name="E-mail me a code").click()
    assert "csrf_token_invalid" in page.content()


@pytest.mark.committed
def test_api_docs_render_from_the_package_without_other_origins(
    served: Served, phone: Any, shoot: Callable[[Any, str], None]
) -> None:
    page = phone
    elsewhere: list[str] = []
    # (ReDoc's sidebar asks for its vendor's logo on a CDN; the page's img-src refuses it,
    # so nothing is fetched from another origin: no response arrives from one.)
    page.on(
        "response",
        lambda r: (
            elsewhere.append(r.url)
            if not r.url.startswith((served.base_url, "blob:" + served.base_url, "data:"))
            else None
        ),
    )
    page.goto(f"{served.base_url}/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Admit One" in page.inner_text(".swagger-ui .info .title")
    page.goto(f"{served.base_url}/redoc")
    page.wait_for_selector("h1:has-text('Admit One')")
    assert elsewhere == []
    assert page.errors == []  # type: ignore[attr-defined]
