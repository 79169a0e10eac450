"""The demo seed of `make run`: a usable organizer and a published event, seeded once."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from admitone import demo
from admitone.core.db import Database
from admitone.events.models import Event, TicketTier
from admitone.orgs.models import Organization, TeamMember, Workspace
from admitone.settings import Settings
from admitone.users.models import User

TABLES = (User, Workspace, Organization, TeamMember, Event, TicketTier)


def _counts(db: Database) -> dict[str, int]:
    return db.query(
        lambda s: {
            t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0 for t in TABLES
        }
    )


def test_seed_creates_a_published_event_with_free_and_paid_tiers(
    db: Database, settings: Settings, client: TestClient
) -> None:
    message = demo.seed(db, settings)
    url = message.split("(event JSON: ", 1)[1].split(")", 1)[0]
    assert url.startswith("http://testserver/api/v1/public/events/")
    body = client.get(url.removeprefix("http://testserver")).json()
    page = f"http://testserver/events/{body['slug']}"
    assert page in message
    assert client.get(page.removeprefix("http://testserver")).status_code == 200
    for path in ("/door", "/manage", "/dev/mailbox"):
        assert f"http://testserver{path}" in message
    assert body["status"] == "published"
    assert body["description"] == demo.DEMO_DESCRIPTION
    assert body["timezone"] == "Africa/Lagos"
    prices = sorted(t["price"]["amount"] for t in body["tiers"])
    assert prices[0] == 0
    assert prices[1] > 0
    assert {t["price"]["currency"] for t in body["tiers"]} == {"NGN"}
    user = db.query(lambda s: s.scalar(select(User).where(User.email == demo.DEMO_EMAIL)))
    assert user is not None
    assert user.email_verified_at is not None
    door = db.query(lambda s: s.scalar(select(User).where(User.email == demo.DOOR_EMAIL)))
    assert door is not None


def test_seeding_twice_changes_nothing(db: Database, settings: Settings) -> None:
    first = demo.seed(db, settings)
    counts = _counts(db)
    second = demo.seed(db, settings)
    assert _counts(db) == counts
    assert first.rsplit(" ", 1)[-1] == second.rsplit(" ", 1)[-1]
    assert "already seeded" in second
