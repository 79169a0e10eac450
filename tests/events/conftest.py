"""Fixtures for event tests: an organizer with an organization, and request helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.orgs.models import Organization
from admitone.settings import Settings
from admitone.users.models import User
from tests.factories import add_team_member, auth_headers, make_organization, make_user


@dataclass
class Organizer:
    user: User
    org: Organization
    headers: dict[str, str]


def event_body(**overrides: Any) -> dict[str, Any]:
    starts = (utcnow() + timedelta(days=30)).replace(microsecond=0)
    return {
        "title": "Lagos Jazz Night",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=4)).isoformat(),
        "timezone": "Africa/Lagos",
        **overrides,
    }


def tier_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Regular",
        "price": {"amount": 500_000, "currency": "NGN"},
        "capacity": 100,
        **overrides,
    }


@pytest.fixture
def organizer(db: Database, settings: Settings) -> Organizer:
    with db.session() as s:
        user = make_user(s)
        org = make_organization(s, user)
        return Organizer(user, org, auth_headers(s, settings, user))


@pytest.fixture
def member_headers(db: Database, settings: Settings, organizer: Organizer):  # type: ignore[no-untyped-def]
    """`member_headers(role, event_ids=None)`: headers of a new team member of the org."""

    def make(role: str, event_ids: list[str] | None = None) -> dict[str, str]:
        with db.session() as s:
            user = make_user(s)
            add_team_member(s, organizer.org, user, role, event_ids)
            return auth_headers(s, settings, user)

    return make


@pytest.fixture
def stranger_headers(db: Database, settings: Settings) -> dict[str, str]:
    with db.session() as s:
        return auth_headers(s, settings, make_user(s))


def create_event(client: TestClient, organizer: Organizer, **overrides: Any) -> dict[str, Any]:
    resp = client.post(
        f"/api/v1/organizations/{organizer.org.id}/events",
        json=event_body(**overrides),
        headers=organizer.headers,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def create_tier(
    client: TestClient, organizer: Organizer, event_id: str, **overrides: Any
) -> dict[str, Any]:
    resp = client.post(
        f"/api/v1/events/{event_id}/tiers", json=tier_body(**overrides), headers=organizer.headers
    )
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def published_event(client: TestClient, organizer: Organizer, **overrides: Any) -> dict[str, Any]:
    event = create_event(client, organizer, **overrides)
    create_tier(client, organizer, event["id"])
    resp = client.post(f"/api/v1/events/{event['id']}/publish", headers=organizer.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]
