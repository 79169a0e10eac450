"""Organizations: create, list, read, update."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, guard, record_audit, require_capability
from admitone.core.ids import OrganizationId, UserId, WorkspaceId
from admitone.orgs import membership as rules
from admitone.orgs.membership import Page
from admitone.orgs.models import Organization


def create_organization(
    session: Session, actor_id: UserId, workspace_id: WorkspaceId, name: str
) -> Organization:
    """A new organization in a workspace; its creator becomes the first team owner."""
    require_capability(session, actor_id, Capability.ORG_CREATE, Scope.workspace(workspace_id))
    org = rules.create_organization(session, actor_id, workspace_id, name)
    # In the organization's own log (its audit route reads it there), not the workspace's.
    record_audit(
        session,
        actor_user_id=actor_id,
        action="organization.created",
        target_type="organization",
        target_id=org.id,
        organization_id=org.id,
        after=rules.organization_view(org),
    )
    return org


def my_organizations(
    session: Session,
    actor_id: UserId,
    *,
    workspace_id: WorkspaceId | None,
    limit: int,
    cursor: str | None,
) -> Page:
    return rules.organizations_of_user(
        session, actor_id, workspace_id=workspace_id, limit=limit, cursor=cursor
    )


def get_organization(
    session: Session, actor_id: UserId, organization_id: OrganizationId
) -> Organization:
    require_capability(session, actor_id, Capability.ORG_READ, Scope.organization(organization_id))
    return rules.get_organization(session, organization_id)


def update_organization(
    session: Session, actor_id: UserId, organization_id: OrganizationId, changes: dict[str, Any]
) -> Organization:
    g = guard(session, actor_id, Capability.ORG_UPDATE, Scope.organization(organization_id))
    org, before = rules.update_organization(session, organization_id, changes)
    g.audit(
        "organization.updated",
        "organization",
        org.id,
        before=before,
        after=rules.organization_view(org),
    )
    return org
