"""Every paginated list of orgs, access, events, check-in and the dev mailbox refuses a
cursor it did not make with 422 `invalid_cursor` (never a 500), and follows its own."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from admitone.core.db import Database
from admitone.settings import Settings
from tests.factories import (
    add_team_member,
    auth_headers,
    grant_platform_role,
    make_event,
    make_organization,
    make_session,
    make_tier,
    make_user,
)

FORGED = [
    base64.urlsafe_b64encode(json.dumps(shape).encode()).decode()
    for shape in (["x", "y"], [1, 2, 3], [None, None], [1])
] + ["not base64!", base64.urlsafe_b64encode(b"{}").decode()]


@pytest.fixture
def lists(db: Database, settings: Settings) -> tuple[list[str], dict[str, str]]:
    with db.session() as session:
        owner = make_user(session)
        org = make_organization(session, owner)
        make_organization(session, owner)  # a second workspace and organization
        add_team_member(session, org, make_user(session), "viewer")
        event = make_event(session, org)
        for _ in range(2):
            make_tier(session, event)
            make_session(session, event)
        grant_platform_role(session, owner, "superadmin")
        headers = auth_headers(session, settings, owner)
        ws, oid, eid = org.workspace_id, org.id, event.id
    urls = [
        "/api/v1/workspaces",
        f"/api/v1/workspaces/{ws}/members",
        f"/api/v1/workspaces/{ws}/invitations",
        f"/api/v1/workspaces/{ws}/audit",
        "/api/v1/organizations",
        f"/api/v1/organizations/{oid}/team",
        f"/api/v1/organizations/{oid}/invitations",
        f"/api/v1/organizations/{oid}/audit",
        "/api/v1/platform/roles",
        "/api/v1/platform/audit",
        f"/api/v1/organizations/{oid}/events",
        f"/api/v1/events/{eid}/sessions",
        f"/api/v1/events/{eid}/tiers",
        "/api/v1/public/events",
        f"/api/v1/events/{eid}/checkins/door-list",
        f"/api/v1/events/{eid}/checkins/scans",
        "/dev/mailbox",
    ]
    return urls, headers


def test_forged_cursors_are_422_invalid_cursor_on_every_list(
    client: TestClient, lists: tuple[list[str], dict[str, str]]
) -> None:
    urls, headers = lists
    for url in urls:
        assert client.get(url, headers=headers).status_code == 200, url
        for cursor in FORGED:
            resp = client.get(url, params={"cursor": cursor}, headers=headers)
            assert resp.status_code == 422, (url, cursor, resp.text)
            assert resp.json()["code"] == "invalid_cursor", (url, cursor)


def test_each_list_follows_its_own_cursor(
    client: TestClient, lists: tuple[list[str], dict[str, str]]
) -> None:
    """Pages of one item: the next cursor leads to a different item, never back."""
    urls, headers = lists
    paged = 0
    for url in urls:
        first = client.get(url, params={"limit": 1}, headers=headers).json()
        if first["next_cursor"] is None:
            continue
        paged += 1
        second = client.get(
            url, params={"limit": 1, "cursor": first["next_cursor"]}, headers=headers
        )
        assert second.status_code == 200, (url, second.text)
        assert second.json()["items"] != first["items"], url
    assert paged >= 5  # workspaces, organizations, team, sessions and tiers have two each
