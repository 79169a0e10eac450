"""Workspaces (founded by anyone, owned by their founder), their members, and organizations."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from admitone.core.db import Database
from admitone.core.ids import WorkspaceId
from admitone.orgs.models import WorkspaceMember
from admitone.settings import Settings
from admitone.users.models import User
from tests.access.helpers import invitation_token
from tests.access.world import World
from tests.factories import auth_headers, make_user


def _person(db: Database, settings: Settings, **overrides: Any) -> tuple[User, dict[str, str]]:
    with db.session() as s:
        user = make_user(s, **overrides)
        return user, auth_headers(s, settings, user)


def test_anyone_signed_in_founds_a_workspace_and_owns_it(
    client: TestClient, db: Database, settings: Settings
) -> None:
    founder, headers = _person(db, settings)
    resp = client.post("/api/v1/workspaces", json={"name": "  Lagos Live  "}, headers=headers)
    assert resp.status_code == 201, resp.text
    ws = resp.json()
    assert (ws["name"], ws["role"]) == ("Lagos Live", "owner")
    mine = client.get("/api/v1/workspaces", headers=headers).json()["items"]
    assert [(w["id"], w["role"]) for w in mine] == [(ws["id"], "owner")]
    members = client.get(f"/api/v1/workspaces/{ws['id']}/members", headers=headers).json()
    assert [(m["user"]["id"], m["role"]) for m in members["items"]] == [(founder.id, "owner")]
    _, stranger = _person(db, settings)
    assert client.get("/api/v1/workspaces", headers=stranger).json()["items"] == []
    assert client.get(f"/api/v1/workspaces/{ws['id']}", headers=stranger).status_code == 404


def test_workspace_invitation_makes_a_member(
    client: TestClient, db: Database, settings: Settings, world: World
) -> None:
    owner = world.headers["workspace:owner"]
    url = f"/api/v1/workspaces/{world.workspace.id}/members"
    resp = client.post(url, json={"email": "new@example.com", "role": "admin"}, headers=owner)
    assert resp.status_code == 201, resp.text
    assert resp.json()["workspace_id"] == world.workspace.id
    pending = client.get(f"/api/v1/workspaces/{world.workspace.id}/invitations", headers=owner)
    assert [i["email"] for i in pending.json()["items"]] == ["new@example.com"]
    newcomer, headers = _person(db, settings, email="new@example.com")
    with db.session() as s:
        token = invitation_token(s, settings, "new@example.com")
    accepted = client.post(f"/api/v1/invitations/{token}/accept", headers=headers)
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["workspace_id"], accepted.json()["role"]) == (
        world.workspace.id,
        "admin",
    )
    mine = client.get("/api/v1/workspaces", headers=headers).json()["items"]
    assert [(w["id"], w["role"]) for w in mine] == [(world.workspace.id, "admin")]
    # a workspace admin reaches the workspace's organizations
    assert client.get(f"/api/v1/organizations/{world.org.id}", headers=headers).status_code == 200
    assert newcomer.id in [
        m["user"]["id"]
        for m in client.get(url, params={"limit": 200}, headers=owner).json()["items"]
    ]


def test_the_last_workspace_owner_stays(client: TestClient, db: Database, world: World) -> None:
    owner = world.headers["workspace:owner"]
    with db.session() as s:
        mine = s.scalar(
            select(WorkspaceMember.id).where(
                WorkspaceMember.user_id == world.users["workspace:owner"].id
            )
        )
        admin = s.scalar(
            select(WorkspaceMember.id).where(
                WorkspaceMember.user_id == world.users["workspace:admin"].id
            )
        )
    url = f"/api/v1/workspaces/{world.workspace.id}/members"
    leave = client.delete(f"{url}/{mine}", headers=owner)
    assert (leave.status_code, leave.json()["code"]) == (409, "last_owner")
    demote = client.patch(f"{url}/{mine}", json={"role": "member"}, headers=owner)
    assert (demote.status_code, demote.json()["code"]) == (409, "last_owner")
    assert client.patch(f"{url}/{admin}", json={"role": "owner"}, headers=owner).status_code == 200
    assert client.delete(f"{url}/{mine}", headers=owner).status_code == 204
    assert client.get(url, headers=owner).status_code == 404  # gone on the next request


def test_creating_an_organization_makes_its_creator_the_owner(
    client: TestClient, world: World
) -> None:
    headers = world.headers["workspace:admin"]
    body = {"workspace_id": world.workspace.id, "name": "Afro Nation Lagos!"}
    first = client.post("/api/v1/organizations", json=body, headers=headers)
    assert first.status_code == 201, first.text
    org = first.json()
    assert org["slug"] == "afro-nation-lagos"
    team = client.get(f"/api/v1/organizations/{org['id']}/team", headers=headers).json()
    assert [(m["user"]["id"], m["role"]) for m in team["items"]] == [
        (world.users["workspace:admin"].id, "owner")
    ]
    second = client.post("/api/v1/organizations", json=body, headers=headers).json()
    assert second["slug"].startswith("afro-nation-lagos-")
    audit = client.get(f"/api/v1/organizations/{org['id']}/audit", headers=headers).json()
    assert [a["action"] for a in audit["items"]] == ["organization.created"]


def test_organization_slug_changes_are_validated_and_unique(
    client: TestClient, world: World
) -> None:
    headers = world.headers["team:owner"]
    url = f"/api/v1/organizations/{world.org.id}"
    renamed = client.patch(url, json={"name": "Renamed", "slug": "renamed-co"}, headers=headers)
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["slug"]) == ("Renamed", "renamed-co")
    other = client.post(
        "/api/v1/organizations",
        json={"workspace_id": world.workspace.id, "name": "Other"},
        headers=world.headers["workspace:owner"],
    ).json()
    taken = client.patch(
        f"/api/v1/organizations/{other['id']}",
        json={"slug": "renamed-co"},
        headers=world.headers["workspace:owner"],
    )
    assert (taken.status_code, taken.json()["code"]) == (409, "slug_taken")
    for bad in ("Has Spaces", "-leading", "UPPER", "x" * 101):
        resp = client.patch(url, json={"slug": bad}, headers=headers)
        assert resp.status_code == 422, bad
    assert client.patch(url, json={"name": ""}, headers=headers).status_code == 422
    audit = client.get(f"{url}/audit", headers=headers).json()["items"][0]
    assert audit["action"] == "organization.updated"
    assert audit["after"] == {"name": "Renamed", "slug": "renamed-co"}


def test_organization_list_shows_where_the_caller_belongs(
    client: TestClient, db: Database, settings: Settings, world: World
) -> None:
    for principal in ("team:viewer", "workspace:member", LIMITED_PRINCIPAL):
        items = client.get("/api/v1/organizations", headers=world.headers[principal]).json()
        assert [o["id"] for o in items["items"]] == [world.org.id], principal
    filtered = client.get(
        "/api/v1/organizations",
        params={"workspace_id": str(WorkspaceId.new())},
        headers=world.headers["team:viewer"],
    )
    assert filtered.json()["items"] == []
    assert client.get("/api/v1/organizations", headers=world.headers["stranger"]).json() == {
        "items": [],
        "next_cursor": None,
    }
    wrong = client.get(
        "/api/v1/organizations",
        params={"workspace_id": world.org.id},
        headers=world.headers["team:viewer"],
    )
    assert wrong.status_code == 422


def test_organization_in_an_unknown_workspace_is_404(client: TestClient, world: World) -> None:
    resp = client.post(
        "/api/v1/organizations",
        json={"workspace_id": str(WorkspaceId.new()), "name": "Nowhere"},
        headers=world.headers["platform:superadmin"],
    )
    assert resp.status_code == 404


LIMITED_PRINCIPAL = "team:manager@other_event"
