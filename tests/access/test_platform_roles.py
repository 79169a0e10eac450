"""Platform roles: granted and revoked by superadmins, bootstrapped from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from admitone.access.errors import CapabilityRequired, UserNotFound
from admitone.access.models import AuditEntry, PlatformRole
from admitone.access.service import bootstrap_superadmin, grant_role, platform_roles, revoke_role
from admitone.cli import app as cli
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.ids import PlatformRoleId, UserId
from admitone.users.models import User
from tests.access.world import World

ROLES = "/api/v1/platform/roles"


def test_superadmin_grants_a_role_by_email_and_it_counts_at_once(
    client: TestClient, world: World
) -> None:
    target = world.users["stranger"]
    audit_url = f"/api/v1/organizations/{world.org.id}/audit"
    assert client.get(audit_url, headers=world.headers["stranger"]).status_code == 404
    resp = client.post(
        ROLES,
        json={"email": str(target.email).upper(), "role": "support"},
        headers=world.headers["platform:superadmin"],
    )
    assert resp.status_code == 201, resp.text
    assert (resp.json()["user_id"], resp.json()["role"]) == (target.id, "support")
    assert resp.json()["granted_by_user_id"] == world.users["platform:superadmin"].id
    assert client.get(audit_url, headers=world.headers["stranger"]).status_code == 200
    again = client.post(
        ROLES,
        json={"user_id": target.id, "role": "support"},
        headers=world.headers["platform:superadmin"],
    )
    assert (again.status_code, again.json()["code"]) == (409, "role_already_granted")


def test_a_revoked_role_stops_working_on_the_next_request(
    client: TestClient, db: Database, world: World
) -> None:
    support = world.headers["platform:support"]
    audit_url = f"/api/v1/organizations/{world.org.id}/audit"
    assert client.get(audit_url, headers=support).status_code == 200
    with db.session() as s:
        role_id = s.scalar(
            select(PlatformRole.id).where(
                PlatformRole.user_id == world.users["platform:support"].id
            )
        )
    revoked = client.delete(f"{ROLES}/{role_id}", headers=world.headers["platform:superadmin"])
    assert revoked.status_code == 204
    assert client.get(audit_url, headers=support).status_code == 404
    with db.session() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "platform_role.revoked"))
    assert entry is not None
    assert entry.before == {"user_id": world.users["platform:support"].id, "role": "support"}
    assert entry.request_id == revoked.headers["x-request-id"]


def test_the_last_superadmin_cannot_be_revoked(
    client: TestClient, db: Database, world: World
) -> None:
    headers = world.headers["platform:superadmin"]
    listed = client.get(ROLES, params={"limit": 200}, headers=headers).json()["items"]
    mine = next(r for r in listed if r["role"] == "superadmin")
    resp = client.delete(f"{ROLES}/{mine['id']}", headers=headers)
    assert (resp.status_code, resp.json()["code"]) == (409, "last_superadmin")
    second = client.post(
        ROLES,
        json={"user_id": world.users["team:owner"].id, "role": "superadmin"},
        headers=headers,
    )
    assert second.status_code == 201
    assert client.delete(f"{ROLES}/{mine['id']}", headers=headers).status_code == 204
    assert client.get(ROLES, headers=headers).status_code == 404  # no longer on the platform


def test_bad_platform_role_requests_are_clear_4xx(client: TestClient, world: World) -> None:
    headers = world.headers["platform:superadmin"]
    uid = world.users["stranger"].id
    for body in (
        {"user_id": uid, "role": "emperor"},
        {"role": "support"},
        {"user_id": uid, "email": "a@example.com", "role": "support"},
        {"user_id": world.org.id, "role": "support"},
    ):
        resp = client.post(ROLES, json=body, headers=headers)
        assert (resp.status_code, resp.json()["code"]) == (422, "validation_error"), body
    nobody = client.post(
        ROLES, json={"user_id": str(UserId.new()), "role": "support"}, headers=headers
    )
    assert (nobody.status_code, nobody.json()["code"]) == (404, "user_not_found")
    missing = client.delete(f"{ROLES}/{PlatformRoleId.new()}", headers=headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "platform_role_not_found")
    assert client.delete(f"{ROLES}/{uid}", headers=headers).status_code == 422


def test_platform_roles_list_is_cursor_paginated(client: TestClient, world: World) -> None:
    seen: list[str] = []
    cursor = None
    headers = world.headers["platform:superadmin"]
    for _ in range(10):  # 3 pages of 2; a cursor that never moves on must fail, not hang
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(ROLES, params=params, headers=headers).json()
        seen += [r["role"] for r in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    else:
        pytest.fail(f"no last page after {seen}")
    assert sorted(seen) == sorted(
        ["superadmin", "support", "moderator", "finance", "release_manager"]
    )


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("ADMITONE_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("ADMITONE_DATABASE_URL", url)
    return url


def test_create_admin_bootstraps_the_first_superadmin_once(cli_env: str) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    first = runner.invoke(cli, ["create-admin", "Founder@Example.com"])
    assert first.exit_code == 0, first.output
    assert "is now a superadmin" in first.output
    again = runner.invoke(cli, ["create-admin", "founder@example.com"])
    assert again.exit_code == 0
    assert "was already a superadmin" in again.output
    bad = runner.invoke(cli, ["create-admin", "not-an-email"])
    assert bad.exit_code == 2
    engine = create_engine(cli_env)
    try:
        with engine.connect() as conn:
            users = conn.execute(select(User.id, User.email)).all()
            roles = conn.execute(select(PlatformRole.user_id, PlatformRole.role)).all()
            audit = conn.execute(select(AuditEntry.action, AuditEntry.actor_user_id)).all()
    finally:
        engine.dispose()
    assert [u.email for u in users] == ["founder@example.com"]
    assert [(r.user_id, r.role) for r in roles] == [(users[0].id, "superadmin")]
    assert [(a.action, a.actor_user_id) for a in audit] == [("platform_role.granted", None)]


def _superadmins(db: Database) -> list[str]:
    with db.session() as s:
        return list(
            s.scalars(select(PlatformRole.user_id).where(PlatformRole.role == "superadmin"))
        )


def test_bootstrap_makes_a_superadmin_of_that_address_only_once(db: Database, world: World) -> None:
    """With another superadmin already there (the world's): the new address still gets it."""
    user, granted = db.mutation(bootstrap_superadmin, "  New.Admin@Example.COM ")
    assert granted is True
    assert user.email == "new.admin@example.com"
    assert user.email_verified_at is None  # signing in with the e-mail verifies it
    assert sorted(_superadmins(db)) == sorted([world.users["platform:superadmin"].id, user.id])
    again, granted_again = db.mutation(bootstrap_superadmin, "new.admin@example.com")
    assert (again.id, granted_again) == (user.id, False)
    assert len(_superadmins(db)) == 2
    # an existing user holding another platform role is promoted, not duplicated
    support = world.users["platform:support"]
    promoted, granted = db.mutation(bootstrap_superadmin, str(support.email))
    assert (promoted.id, granted) == (support.id, True)
    with db.session() as s:
        audit = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "platform_role.granted",
                AuditEntry.after["user_id"].as_string() == support.id,
            )
        ).all()
    assert [(a.actor_user_id, a.target_type, a.after) for a in audit] == [
        (None, "platform_role", {"user_id": support.id, "role": "superadmin"})
    ]


def test_a_grant_names_its_user_and_writes_its_audit_row(db: Database, world: World) -> None:
    admin = world.users["platform:superadmin"].id
    target = world.users["team:viewer"]
    row, user = db.mutation(
        grant_role, admin, role="finance", user_id=None, email=f"  {str(target.email).upper()} "
    )
    assert (row.user_id, row.role, row.granted_by_user_id, user.id) == (
        target.id,
        "finance",
        admin,
        target.id,
    )
    with db.session() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.target_id == row.id))
    assert entry is not None
    assert (entry.action, entry.actor_user_id, entry.target_type, entry.after) == (
        "platform_role.granted",
        admin,
        "platform_role",
        {"user_id": target.id, "role": "finance"},
    )


def test_a_deleted_user_cannot_be_granted_a_platform_role(db: Database, world: World) -> None:
    admin = world.users["platform:superadmin"].id
    gone = world.users["team:viewer"]
    with db.session() as s:
        s.get_one(User, gone.id).deleted_at = utcnow()
    for named in ({"user_id": gone.id, "email": None}, {"user_id": None, "email": gone.email}):
        with pytest.raises(UserNotFound):
            db.mutation(grant_role, admin, role="support", **named)


def test_only_superadmins_manage_platform_roles(db: Database, world: World) -> None:
    support = world.users["platform:support"].id
    with db.session() as s:
        role_id = s.scalar(select(PlatformRole.id).where(PlatformRole.user_id == support))
    assert role_id is not None
    for call, args in [
        (grant_role, {"role": "finance", "user_id": support, "email": None}),
        (platform_roles, {"limit": 10, "cursor": None}),
    ]:
        with pytest.raises(CapabilityRequired) as caught:
            db.mutation(call, support, **args)
        assert caught.value.extra == {"capability": "platform.roles.manage"}
    with pytest.raises(CapabilityRequired):
        db.mutation(revoke_role, support, role_id)
    db.mutation(revoke_role, world.users["platform:superadmin"].id, role_id)
    with db.session() as s:
        assert s.get(PlatformRole, role_id) is None
        entry = s.scalar(select(AuditEntry).where(AuditEntry.target_id == role_id))
    assert entry is not None
    assert (entry.action, entry.actor_user_id, entry.target_type) == (
        "platform_role.revoked",
        world.users["platform:superadmin"].id,
        "platform_role",
    )
