"""A door to scan at: an event with tiers, passes, and staff with different roles."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from admitone.core.db import Database
from admitone.events.models import Event, TicketTier
from admitone.orgs.models import Organization
from admitone.passes.models import Pass
from admitone.settings import Settings
from tests.factories import (
    add_team_member,
    auth_headers,
    make_event,
    make_organization,
    make_pass,
    make_tier,
    make_user,
)


@dataclass
class Door:
    client: TestClient
    db: Database
    settings: Settings
    org: Organization
    event: Event
    tier: TicketTier
    vip: TicketTier
    owner: dict[str, str]
    staff: dict[str, str]  # door_staff: checkin.scan
    manager: dict[str, str]  # manager: checkin.manage
    viewer: dict[str, str]  # viewer: event.read only
    stranger: dict[str, str]
    staff_id: str = ""  # the door_staff user
    passes: list[Pass] = field(default_factory=list)

    def scan(self, code: str, headers: dict[str, str] | None = None, **extra: object) -> Response:
        return self.client.post(
            f"/api/v1/events/{self.event.id}/checkins",
            json={"code": code, **extra},
            headers=headers if headers is not None else self.staff,
        )

    def result(self, code: str, **extra: object) -> str:
        resp = self.scan(code, **extra)
        assert resp.status_code == 200, resp.text
        return str(resp.json()["result"])

    def new_pass(self, tier: TicketTier | None = None, **overrides: object) -> Pass:
        with self.db.session() as session:
            return make_pass(session, self.event, tier or self.tier, **overrides)


def build_door(client: TestClient, db: Database, settings: Settings) -> Door:
    with db.session() as session:
        owner = make_user(session)
        org = make_organization(session, owner)
        event = make_event(session, org)
        tier = make_tier(session, event, name="Regular")
        vip = make_tier(session, event, name="VIP", position=1)
        headers = {}
        ids = {}
        for role in ("door_staff", "manager", "viewer"):
            user = make_user(session, name=role)
            add_team_member(session, org, user, role)
            headers[role] = auth_headers(session, settings, user)
            ids[role] = user.id
        passes = [make_pass(session, event, tier, attendee_name=f"Guest {i:02d}") for i in range(3)]
        return Door(
            client=client,
            db=db,
            settings=settings,
            org=org,
            event=event,
            tier=tier,
            vip=vip,
            owner=auth_headers(session, settings, owner),
            staff=headers["door_staff"],
            manager=headers["manager"],
            viewer=headers["viewer"],
            stranger=auth_headers(session, settings, make_user(session)),
            staff_id=ids["door_staff"],
            passes=passes,
        )


@pytest.fixture
def door(client: TestClient, db: Database, settings: Settings) -> Door:
    return build_door(client, db, settings)
