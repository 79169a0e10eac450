"""The web surface: pages carry a strict CSP, escape what they show, and serve the stylesheet."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from admitone.core.db import Database
from tests.factories import make_event, make_organization, make_tier, make_user


def test_home_lists_upcoming_public_events_escaped(client: TestClient, db: Database) -> None:
    def seed(session: Session) -> None:
        owner = make_user(session)
        org = make_organization(session, owner)
        event = make_event(session, org, title="<img src=x onerror=alert(1)>", status="published")
        make_tier(session, event)

    db.mutation(seed)
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "<img src=x" not in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"


def test_the_stylesheet_is_served_from_the_package(client: TestClient) -> None:
    css = client.get("/static/site.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert client.get("/static/../app.py").status_code == 404


def test_pages_stay_out_of_the_openapi_document(client: TestClient) -> None:
    assert "/" not in client.get("/openapi.json").json()["paths"]
