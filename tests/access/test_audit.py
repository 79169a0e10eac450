"""The audit log: one row per privileged change, read newest first by those allowed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from admitone.core.db import Database
from admitone.settings import Settings
from tests.access.world import World, build_world


def test_audit_log_pages_newest_first_and_stays_in_its_organization(
    client: TestClient, db: Database, settings: Settings, world: World
) -> None:
    headers = world.headers["team:owner"]
    team = f"/api/v1/organizations/{world.org.id}/team"
    for n in range(5):
        resp = client.post(
            team, json={"email": f"p{n}@example.com", "role": "viewer"}, headers=headers
        )
        assert resp.status_code == 201
    elsewhere = build_world(db, settings)
    other_team = f"/api/v1/organizations/{elsewhere.org.id}/team"
    client.post(
        other_team,
        json={"email": "x@example.com", "role": "viewer"},
        headers=elsewhere.headers["team:owner"],
    )

    url = f"/api/v1/organizations/{world.org.id}/audit"
    emails: list[str] = []
    cursor = None
    for _ in range(10):  # 3 pages of 2; a cursor that never moves on must fail, not hang
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(url, params=params, headers=headers).json()
        for entry in page["items"]:
            assert entry["action"] == "team_member.invited"
            assert entry["actor_user_id"] == world.users["team:owner"].id
            assert entry["organization_id"] == world.org.id
            assert entry["request_id"]
            emails.append(entry["after"]["email"])
        if not (cursor := page["next_cursor"]):
            break
    else:
        pytest.fail(f"no last page after {emails}")
    assert emails == [f"p{n}@example.com" for n in reversed(range(5))]
    bad = client.get(url, params={"cursor": "eyJ4IjoxfQ=="}, headers=headers)
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_cursor")
    too_many = client.get(url, params={"limit": 1000}, headers=headers)
    assert too_many.status_code == 422


def test_workspace_and_platform_changes_have_their_own_audit_logs(
    client: TestClient, db: Database, settings: Settings, world: World
) -> None:
    founder = world.headers["stranger"]
    ws = client.post("/api/v1/workspaces", json={"name": "Mine"}, headers=founder).json()
    invited = client.post(
        f"/api/v1/workspaces/{ws['id']}/members",
        json={"email": "w@example.com", "role": "member"},
        headers=founder,
    )
    assert invited.status_code == 201
    log = client.get(f"/api/v1/workspaces/{ws['id']}/audit", headers=founder).json()["items"]
    assert [(a["action"], a["workspace_id"]) for a in log] == [
        ("workspace_member.invited", ws["id"]),
        ("workspace.created", ws["id"]),
    ]
    granted = client.post(
        "/api/v1/platform/roles",
        json={"user_id": world.users["team:viewer"].id, "role": "finance"},
        headers=world.headers["platform:superadmin"],
    )
    assert granted.status_code == 201
    platform = client.get("/api/v1/platform/audit", headers=world.headers["platform:support"])
    newest = platform.json()["items"][0]
    assert (newest["action"], newest["target_id"]) == (
        "platform_role.granted",
        granted.json()["id"],
    )
    denied = client.get("/api/v1/platform/audit", headers=world.headers["platform:moderator"])
    assert (denied.status_code, denied.json()["capability"]) == (403, "audit.read")
