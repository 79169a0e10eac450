"""Ticket PDFs: per pass and per order, who may read them, what is on the page (text read
back, QR decoded from the rasterised page), and the PDF attached to the confirmation."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pypdf
import pytest
from fastapi.testclient import TestClient

from admitone.core import jobs
from admitone.core.db import Database
from admitone.settings import Settings
from tests.emails.conftest import Inbox, with_mail
from tests.factories import auth_headers, make_user
from tests.orders.shop import Shop, open_shop, order_body, place
from tests.passes.documents import pdf_pages_text, pdf_qr_codes
from tests.passes.logo_images import logo_png


@pytest.fixture
def shop(db: Database, settings: Settings) -> Shop:
    return open_shop(db, settings)


def _free_order(client: TestClient, shop: Shop, quantity: int = 2, **kw: Any) -> dict[str, Any]:
    body = order_body(shop) | {"items": [{"tier_id": shop.free.id, "quantity": quantity}]}
    resp = place(client, body, **kw)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_order_tickets_pdf_has_a_page_per_pass_with_its_details_and_qr(
    client: TestClient, shop: Shop
) -> None:
    order = _free_order(client, shop, quantity=2)
    resp = client.get(f"/api/v1/orders/{order['id']}/tickets.pdf?token={order['order_token']}")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/pdf"
    pages = pdf_pages_text(resp.content)
    assert len(pages) == 2
    for page, p in zip(pages, order["passes"], strict=True):
        assert shop.event.title in page
        assert shop.org.name in page
        assert "Free" in page
        assert "Ada Obi" in page
        assert f"{p['code'][:5]}-{p['code'][5:]}" in page
        # The event starts at a UTC instant; the page shows it in Lagos time (WAT, UTC+1).
        local = shop.event.starts_at.replace(hour=(shop.event.starts_at.hour + 1) % 24)
        assert local.strftime("%H:%M") in page
        assert "WAT" in page
    assert pdf_qr_codes(resp.content, page=1) == [order["passes"][1]["qr"]]


def test_the_organizations_logo_is_on_its_tickets(client: TestClient, shop: Shop) -> None:
    upload = client.put(
        f"/api/v1/organizations/{shop.org.id}/logo",
        files={"file": ("logo.png", logo_png(), "image/png")},
        headers=shop.owner_headers,
    )
    assert upload.status_code == 200, upload.text
    order = _free_order(client, shop, quantity=2)
    resp = client.get(f"/api/v1/orders/{order['id']}/tickets.pdf?token={order['order_token']}")
    reader = pypdf.PdfReader(io.BytesIO(resp.content))
    for page in reader.pages:
        [image] = page.images
        assert image.image is not None
        assert image.image.size == (480, 150)
    assert shop.org.name in pdf_pages_text(resp.content)[0]
    assert pdf_qr_codes(resp.content, page=0) == [order["passes"][0]["qr"]]


def test_pass_ticket_pdf_for_the_holder_and_through_the_order_token(
    client: TestClient, db: Database, settings: Settings, shop: Shop
) -> None:
    with db.session() as s:
        buyer = make_user(s)
        headers = auth_headers(s, settings, buyer)
    order = _free_order(client, shop, quantity=1, headers=headers)
    p = order["passes"][0]
    by_bearer = client.get(f"/api/v1/passes/{p['id']}/ticket.pdf", headers=headers)
    assert by_bearer.status_code == 200
    assert pdf_qr_codes(by_bearer.content) == [p["qr"]]
    assert by_bearer.headers["content-disposition"] == f'inline; filename="ticket-{p["code"]}.pdf"'
    by_header = client.get(
        f"/api/v1/passes/{p['id']}/ticket.pdf", headers={"X-Order-Token": order["order_token"]}
    )
    assert by_header.status_code == 200
    by_organizer = client.get(f"/api/v1/passes/{p['id']}/ticket.pdf", headers=shop.owner_headers)
    assert by_organizer.status_code == 200


def test_strangers_and_wrong_tokens_get_404(
    client: TestClient, db: Database, settings: Settings, shop: Shop
) -> None:
    order = _free_order(client, shop, quantity=1)
    pass_id = order["passes"][0]["id"]
    with db.session() as s:
        stranger = auth_headers(s, settings, make_user(s))
    for url, code in (
        (f"/api/v1/passes/{pass_id}/ticket.pdf", "pass_not_found"),
        (f"/api/v1/orders/{order['id']}/tickets.pdf", "order_not_found"),
    ):
        assert client.get(url).json()["code"] == code
        assert client.get(url, headers=stranger).json()["code"] == code
        assert client.get(url + "?token=" + "0" * 40).status_code == 404
    assert client.get("/api/v1/passes/pas_nope/ticket.pdf").status_code in (404, 422)
    assert (
        client.get(f"/api/v1/orders/{order['id']}/tickets.pdf?token=" + "x" * 101).status_code
        == 422
    )


def test_names_beyond_latin1_are_drawn_with_an_embedded_font(
    client: TestClient, shop: Shop
) -> None:
    body = order_body(shop) | {
        "items": [{"tier_id": shop.free.id, "quantity": 1}],
        "buyer": {"email": "lz@example.com", "name": "Łukasz Żółć"},
    }
    order = place(client, body).json()
    resp = client.get(f"/api/v1/orders/{order['id']}/tickets.pdf?token={order['order_token']}")
    assert "Łukasz Żółć" in pdf_pages_text(resp.content)[0]


def test_confirmation_email_carries_the_tickets_and_the_mailbox_lists_them(
    client: TestClient, shop: Shop, run_jobs: Callable[[], int]
) -> None:
    _free_order(client, shop, quantity=2)
    run_jobs()
    items = client.get("/dev/mailbox", params={"to": "ada@example.com"}).json()["items"]
    [attachment] = items[0]["attachments"]
    assert attachment["filename"] == "tickets.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert attachment["size"] > 1000
    # The e-mail offers the PDF and both wallet buttons; each link works as it is.
    links = re.findall(r"http://testserver(\S+)", items[0]["text"])
    pdf_link = next(u for u in links if "/tickets.pdf?token=" in u)
    assert len(pdf_pages_text(client.get(pdf_link).content)) == 2
    apple = [u for u in links if u.endswith("wallet.pkpass", 0, u.index("?"))]
    assert len(apple) == 2
    assert client.get(apple[0]).headers["content-type"] == "application/vnd.apple.pkpass"
    google = [u for u in links if "/wallet/google?redirect=true" in u]
    assert len(google) == 2
    moved = client.get(google[0], follow_redirects=False)
    assert moved.status_code == 303
    assert moved.headers["location"].startswith("https://pay.google.com/gp/v/save/")
    assert "Add to Apple Wallet" in (items[0]["html"] or "")


def test_smtp_confirmation_has_the_pdf_attached(
    client: TestClient, db: Database, settings: Settings, shop: Shop, smtp: Inbox
) -> None:
    order = _free_order(client, shop, quantity=1)
    assert jobs.drain(db, with_mail(settings, transport="smtp", smtp_port=smtp.port)) >= 1
    [message] = smtp.messages
    assert isinstance(message, EmailMessage) or message.is_multipart()
    parts = [p for p in message.walk() if p.get_filename()]
    [part] = parts
    assert part.get_content_type() == "application/pdf"
    body = part.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert pdf_qr_codes(body) == [order["passes"][0]["qr"]]
