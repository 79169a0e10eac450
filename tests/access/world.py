"""A small tenancy world for access tests: one workspace, one organization with two events,
and one signed-in user per role (team, workspace, platform) plus a stranger.

`expected_capabilities` says, from the role tables alone, what each principal should hold
in each kind of scope; the authorization matrix compares the routes against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from admitone.access.capabilities import (
    LIMITED_ROLE_KEEPS,
    PLATFORM_ROLES,
    TEAM_ROLES,
    WORKSPACE_ROLES,
    Capability,
)
from admitone.access.service import ScopeKind
from admitone.core.db import Database
from admitone.core.ids import OrganizationId, WorkspaceMemberId
from admitone.events.models import Event, TicketTier
from admitone.orgs.models import Organization, Workspace, WorkspaceMember
from admitone.settings import Settings
from admitone.users.models import User
from tests.factories import (
    add_team_member,
    auth_headers,
    grant_platform_role,
    make_event,
    make_tier,
    make_user,
    make_workspace,
)

# A team role limited to `other_event`: it must not reach the world's main `event`.
LIMITED = "team:manager@other_event"

PRINCIPALS: tuple[str, ...] = (
    *(f"team:{role}" for role in TEAM_ROLES),
    LIMITED,
    *(f"workspace:{role}" for role in WORKSPACE_ROLES),
    *(f"platform:{role}" for role in PLATFORM_ROLES),
    "stranger",
)


@dataclass
class World:
    settings: Settings
    workspace: Workspace
    org: Organization
    event: Event  # every team role but LIMITED reaches it
    other_event: Event
    tier: TicketTier
    users: dict[str, User] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)


def make_org_in(session: Session, workspace: Workspace, name: str = "World Org") -> Organization:
    oid = OrganizationId.new()
    org = Organization(
        id=oid, workspace_id=workspace.id, name=name, slug=f"org-{oid[-10:].lower()}"
    )
    session.add(org)
    session.flush()
    return org


def add_workspace_member(
    session: Session, workspace: Workspace, user: User, role: str
) -> WorkspaceMember:
    member = WorkspaceMember(
        id=WorkspaceMemberId.new(), workspace_id=workspace.id, user_id=user.id, role=role
    )
    session.add(member)
    session.flush()
    return member


def build_world(db: Database, settings: Settings) -> World:
    with db.session() as s:
        founder = make_user(s, name="Workspace Owner")
        workspace = make_workspace(s, founder)  # founder is the workspace owner
        org = make_org_in(s, workspace)
        event = make_event(s, org, status="draft")
        other_event = make_event(s, org, status="draft")
        world = World(settings, workspace, org, event, other_event, make_tier(s, event))
        for principal in PRINCIPALS:
            kind, _, role = principal.partition(":")
            user = founder if principal == "workspace:owner" else make_user(s, name=principal)
            if kind == "team":
                base, _, limit = role.partition("@")
                add_team_member(s, org, user, base, event_ids=[other_event.id] if limit else None)
            elif kind == "workspace" and role != "owner":
                add_workspace_member(s, workspace, user, role)
            elif kind == "platform":
                grant_platform_role(s, user, role)
            world.users[principal] = user
            world.headers[principal] = auth_headers(s, settings, user)
    return world


def expected_capabilities(principal: str, scope: ScopeKind) -> frozenset[Capability]:
    """What `principal` holds in the world's workspace, organization or main event, or on
    the platform, read from the role tables."""
    kind, _, role = principal.partition(":")
    if kind == "platform":
        return PLATFORM_ROLES[role]
    if kind == "workspace" and scope != "platform":
        return WORKSPACE_ROLES[role]
    if kind == "team" and scope in ("organization", "event"):
        base, _, limit = role.partition("@")
        if not limit:
            return TEAM_ROLES[base]
        return TEAM_ROLES[base] & LIMITED_ROLE_KEEPS if scope == "organization" else frozenset()
    return frozenset()
