"""Capability resolution: roles combine, event limits hold, and it costs at most two queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlalchemy.orm import Session

from admitone.access.capabilities import PLATFORM_ROLES, TEAM_ROLES, WORKSPACE_ROLES, Capability
from admitone.access.errors import CapabilityRequired, ScopeNotFound
from admitone.access.service import Grant, Scope, grant_for, require_capability
from admitone.core.db import Database
from admitone.core.ids import EventId, OrganizationId
from admitone.settings import Settings
from tests.access.world import LIMITED, PRINCIPALS, World, add_workspace_member
from tests.factories import add_team_member, grant_platform_role, make_user

C = Capability


@contextmanager
def count_queries(session: Session) -> Iterator[list[str]]:
    """Every statement the session's connection sends while the block runs."""
    conn = session.connection()  # opens the transaction (a SAVEPOINT in tests) first
    statements: list[str] = []

    def on_execute(*args: Any) -> None:
        statements.append(args[2])

    event.listen(conn, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        event.remove(conn, "before_cursor_execute", on_execute)


def _scopes(world: World) -> dict[str, Scope]:
    return {
        "platform": Scope.platform(),
        "workspace": Scope.workspace(world.workspace.id),
        "organization": Scope.organization(world.org.id),
        "event": Scope.event(world.event.id),
    }


@pytest.mark.parametrize("kind", ["platform", "workspace", "organization", "event"])
def test_resolution_costs_one_query_at_event_scope_and_two_above_whoever_asks(
    db: Database, world: World, kind: str
) -> None:
    scope = _scopes(world)[kind]
    with db.session() as s:
        # one user holding a team role, a workspace role and two platform roles at once
        busy = world.users["team:manager"]
        add_workspace_member(s, world.workspace, busy, "member")
        grant_platform_role(s, busy, "support")
        grant_platform_role(s, busy, "moderator")
    for principal in [*PRINCIPALS, "team:manager"]:
        with (
            db.session() as s,
            count_queries(s) as statements,
            suppress(CapabilityRequired, ScopeNotFound),
        ):
            require_capability(s, world.users[principal].id, C.EVENT_READ, scope)
        assert len(statements) <= (1 if kind in ("event", "platform", "workspace") else 2), (
            principal,
            statements,
        )


def test_resolution_of_an_unknown_scope_is_one_query_and_a_404(db: Database, world: World) -> None:
    with db.session() as s, count_queries(s) as statements, pytest.raises(ScopeNotFound):
        require_capability(
            s, world.users["platform:superadmin"].id, C.EVENT_READ, Scope.event(EventId.new())
        )
    assert len(statements) == 1


def _grant(db: Database, world: World, principal: str, scope: Scope) -> Grant:
    return db.query(grant_for, world.users[principal].id, scope)


def test_roles_combine_to_their_union(db: Database, world: World) -> None:
    with db.session() as s:
        add_workspace_member(s, world.workspace, world.users["team:door_staff"], "member")
    org = Scope.organization(world.org.id)
    grant = _grant(db, world, "team:door_staff", org)
    assert C.CHECKIN_SCAN in grant.capabilities  # from the team role
    assert C.WORKSPACE_READ in grant.capabilities  # from the workspace role
    assert grant.event_ids is None


def test_a_role_limited_to_some_events_reaches_only_those(db: Database, world: World) -> None:
    org = _grant(db, world, LIMITED, Scope.organization(world.org.id))
    assert org.event_ids == frozenset({world.other_event.id})
    assert C.EVENT_UPDATE in org.capabilities
    assert not org.allows_event(world.event.id)
    # organization-wide powers need an unlimited role
    assert C.EVENT_CREATE not in org.capabilities
    assert C.TEAM_READ not in org.capabilities
    mine = _grant(db, world, LIMITED, Scope.event(world.other_event.id))
    assert C.TIER_MANAGE in mine.capabilities
    assert _grant(db, world, LIMITED, Scope.event(world.event.id)).capabilities == frozenset()
    # an unlimited role elsewhere in the tree lifts the limit
    with db.session() as s:
        add_workspace_member(s, world.workspace, world.users[LIMITED], "admin")
    assert _grant(db, world, LIMITED, Scope.organization(world.org.id)).event_ids is None


def test_a_team_role_does_not_reach_other_organizations(db: Database, world: World) -> None:
    with db.session() as s:
        from tests.access.world import make_org_in

        sibling = make_org_in(s, world.workspace, "Sibling")
    assert _grant(db, world, "team:owner", Scope.organization(sibling.id)).capabilities == set()
    admin = _grant(db, world, "workspace:admin", Scope.organization(sibling.id))
    assert C.TEAM_MANAGE in admin.capabilities


def test_my_capabilities_lists_the_callers_set(client: TestClient, world: World) -> None:
    resp = client.get(
        "/api/v1/me/capabilities",
        params={"organization_id": world.org.id},
        headers=world.headers["team:door_staff"],
    )
    assert resp.status_code == 200
    assert resp.json() == {
        "organization_id": world.org.id,
        "workspace_id": world.workspace.id,
        "capabilities": ["checkin.scan", "event.read", "org.read"],
        "event_ids": None,
    }
    for params in ({}, {"organization_id": world.workspace.id}, {"organization_id": "org_x"}):
        bad = client.get(
            "/api/v1/me/capabilities", params=params, headers=world.headers["team:door_staff"]
        )
        assert bad.status_code == 422, params
    unknown = client.get(
        "/api/v1/me/capabilities",
        params={"organization_id": str(OrganizationId.new())},
        headers=world.headers["team:door_staff"],
    )
    assert unknown.status_code == 404


def test_403_names_the_missing_capability(client: TestClient, world: World) -> None:
    resp = client.patch(
        f"/api/v1/organizations/{world.org.id}",
        json={"name": "Mine now"},
        headers=world.headers["team:viewer"],
    )
    assert resp.status_code == 403
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] == "capability_required"
    assert resp.json()["capability"] == "org.update"


def test_a_new_team_role_counts_on_the_next_request(
    client: TestClient, db: Database, settings: Settings, world: World
) -> None:
    stranger = world.headers["stranger"]
    url = f"/api/v1/organizations/{world.org.id}"
    assert client.get(url, headers=stranger).status_code == 404
    with db.session() as s:
        add_team_member(s, world.org, world.users["stranger"], "viewer")
    assert client.get(url, headers=stranger).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/organizations/{org}",
        "/api/v1/organizations/{org}/team",
        "/api/v1/organizations/{org}/audit",
        "/api/v1/events/{event}",
        "/api/v1/events/{event}/orders",
    ],
)
def test_a_request_resolves_the_callers_roles_once(
    client: TestClient, db: Database, world: World, path: str
) -> None:
    """Over a whole request, the roles are read by one statement (the UNION over platform,
    workspace and team roles), and resolution stays within its two queries."""
    statements: list[str] = []

    def on_execute(*args: Any) -> None:
        statements.append(args[2])

    url = path.format(org=world.org.id, event=world.event.id)
    event.listen(db.bind, "before_cursor_execute", on_execute)
    try:
        resp = client.get(url, headers=world.headers["team:owner"])
    finally:
        event.remove(db.bind, "before_cursor_execute", on_execute)
    assert resp.status_code == 200, resp.text
    role_reads = [s for s in statements if "FROM platform_roles" in s]
    assert len(role_reads) == 1, role_reads
    assert "UNION ALL" in role_reads[0]


@given(
    team=st.sampled_from([None, *TEAM_ROLES]),
    workspace=st.sampled_from([None, *WORKSPACE_ROLES]),
    platform=st.sets(st.sampled_from(sorted(PLATFORM_ROLES)), max_size=3),
    kind=st.sampled_from(["platform", "workspace", "organization", "event"]),
)
@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_mix_of_roles_grants_exactly_the_union_of_the_table(
    db: Database,
    world: World,
    team: str | None,
    workspace: str | None,
    platform: set[str],
    kind: str,
) -> None:
    with db.session() as s:
        user = make_user(s)
        if team:
            add_team_member(s, world.org, user, team)
        if workspace:
            add_workspace_member(s, world.workspace, user, workspace)
        for role in platform:
            grant_platform_role(s, user, role)
    expected: set[Capability] = set()
    for role in platform:
        expected |= PLATFORM_ROLES[role]
    if workspace and kind != "platform":
        expected |= WORKSPACE_ROLES[workspace]
    if team and kind in ("organization", "event"):
        expected |= TEAM_ROLES[team]
    grant = db.query(grant_for, user.id, _scopes(world)[kind])
    assert grant.capabilities == expected
    assert grant.event_ids is None
