"""Capability resolution (`require_capability`) and the audit log.

Resolution costs at most two queries: one that resolves the scope to its organization and
workspace, one that reads every role the caller holds there (team, workspace, platform).
Nothing is cached across requests, so a removed member or a revoked role loses access on
the very next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import literal, null, select, union_all
from sqlalchemy.orm import Session

from admitone.access.capabilities import (
    PLATFORM_ROLES,
    TEAM_ROLES,
    WORKSPACE_ROLES,
    Capability,
)
from admitone.access.errors import CapabilityRequired, ScopeNotFound
from admitone.access.models import AuditEntry, PlatformRole
from admitone.core.http import request_id_var
from admitone.core.ids import AuditEntryId
from admitone.events.models import Event
from admitone.orgs.models import Organization, TeamMember, WorkspaceMember

ScopeKind = Literal["platform", "workspace", "organization", "event"]


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    id: str | None = None

    @classmethod
    def platform(cls) -> Scope:
        return cls("platform")

    @classmethod
    def workspace(cls, workspace_id: str) -> Scope:
        return cls("workspace", workspace_id)

    @classmethod
    def organization(cls, organization_id: str) -> Scope:
        return cls("organization", organization_id)

    @classmethod
    def event(cls, event_id: str) -> Scope:
        return cls("event", event_id)


@dataclass(frozen=True)
class Grant:
    """What the caller may do in a scope. `event_ids` limits event-scoped capabilities at
    organization scope to some events (None: all events)."""

    capabilities: frozenset[Capability]
    organization_id: str | None
    workspace_id: str | None
    event_ids: frozenset[str] | None = None

    def allows(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def allows_event(self, event_id: str) -> bool:
        return self.event_ids is None or event_id in self.event_ids


def _resolve(session: Session, scope: Scope) -> tuple[str | None, str | None]:
    """(organization_id, workspace_id) of the scope; 404 when it does not exist."""
    if scope.kind == "platform":
        return None, None
    if scope.kind == "workspace":
        return None, scope.id
    if scope.kind == "organization":
        ws = session.scalar(select(Organization.workspace_id).where(Organization.id == scope.id))
        if ws is None:
            raise ScopeNotFound("No such organization.", resource="organization")
        return scope.id, ws
    row = session.execute(
        select(Event.organization_id, Organization.workspace_id)
        .join(Organization, Organization.id == Event.organization_id)
        .where(Event.id == scope.id)
    ).first()
    if row is None:
        raise ScopeNotFound("No such event.", resource="event")
    return row[0], row[1]


def grant_for(session: Session, user_id: str, scope: Scope) -> Grant:
    """Every capability `user_id` holds in `scope`, from all of their roles."""
    org_id, ws_id = _resolve(session, scope)
    parts = [
        select(
            literal("platform").label("kind"), PlatformRole.role, null().label("event_ids")
        ).where(PlatformRole.user_id == user_id)
    ]
    if ws_id is not None:
        parts.append(
            select(literal("workspace"), WorkspaceMember.role, null()).where(
                WorkspaceMember.workspace_id == ws_id, WorkspaceMember.user_id == user_id
            )
        )
    if org_id is not None:
        parts.append(
            select(literal("team"), TeamMember.role, TeamMember.event_ids).where(
                TeamMember.organization_id == org_id, TeamMember.user_id == user_id
            )
        )
    caps: set[Capability] = set()
    limited_to: frozenset[str] | None = None
    org_wide = False
    for kind, role, event_ids in session.execute(union_all(*parts)):
        if kind == "platform":
            caps |= PLATFORM_ROLES.get(role, frozenset())
            org_wide = True
        elif kind == "workspace":
            caps |= WORKSPACE_ROLES.get(role, frozenset())
            org_wide = True
        elif event_ids is None:
            caps |= TEAM_ROLES.get(role, frozenset())
            org_wide = True
        elif scope.kind == "event":
            if scope.id in event_ids:
                caps |= TEAM_ROLES.get(role, frozenset())
        else:  # organization scope, a member limited to some events
            caps |= TEAM_ROLES.get(role, frozenset()) - {Capability.EVENT_CREATE}
            limited_to = frozenset(event_ids)
    return Grant(frozenset(caps), org_id, ws_id, None if org_wide else limited_to)


def require_capability(
    session: Session, user_id: str, capability: Capability, scope: Scope
) -> Grant:
    """Returns the caller's grant, or raises: 404 when the caller holds no role in the scope
    (they may not learn that it exists), 403 `capability_required` naming the capability."""
    grant = grant_for(session, user_id, scope)
    if not grant.capabilities:
        raise ScopeNotFound(f"No such {scope.kind}.", resource=scope.kind)
    if capability not in grant.capabilities:
        raise CapabilityRequired(
            f"This needs the `{capability}` capability.", capability=str(capability)
        )
    return grant


def record_audit(
    session: Session,
    *,
    actor_user_id: str | None,
    action: str,
    target_type: str,
    target_id: str,
    organization_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Writes one audit row in the caller's transaction (dotted action: `orders.refund.created`)."""
    session.add(
        AuditEntry(
            id=AuditEntryId.new(),
            actor_user_id=actor_user_id,
            organization_id=organization_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            before=before,
            after=after,
            request_id=request_id_var.get(),
        )
    )
