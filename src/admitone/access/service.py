"""Capability resolution (`require_capability`) and the audit log.

Resolution costs at most two queries: one that resolves the scope to its organization and
workspace, one that reads every role the caller holds there (team, workspace, platform).
Nothing is cached across requests, so a removed member or a revoked role loses access on
the very next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    CompoundSelect,
    Select,
    String,
    bindparam,
    cast,
    delete,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from admitone.access import scopes
from admitone.access.capabilities import (
    LIMITED_ROLE_KEEPS,
    PLATFORM_ROLES,
    TEAM_ROLES,
    WORKSPACE_ROLES,
    Capability,
)
from admitone.access.errors import (
    CapabilityRequired,
    LastSuperadmin,
    PlatformRoleNotFound,
    RoleAlreadyGranted,
    ScopeNotFound,
    UserNotFound,
)
from admitone.access.models import AuditEntry, PlatformRole
from admitone.core.db import DriverStatement, JSONType
from admitone.core.http import request_id_var
from admitone.core.ids import AuditEntryId, PlatformRoleId, UserId
from admitone.core.pagination import Keyset, SortKey
from admitone.users.models import User

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

    def require(self, capability: Capability) -> None:
        """403 `capability_required` unless this grant includes `capability` (for rules
        that depend on the target, e.g. changing an owner needs `team.owners.manage`)."""
        if capability not in self.capabilities:
            raise CapabilityRequired(
                f"This needs the `{capability}` capability.", capability=str(capability)
            )


# Built once (on first use, from the columns orgs and events register: access/scopes.py):
# these run on every privileged request, and building a SELECT costs more Python time than
# executing its cached compiled form. They run on the session's connection (Core): plain
# column reads need none of the ORM's per-statement setup.
@dataclass(frozen=True)
class _Statements:
    org_workspace: Select[Any]
    roles_by_reach: dict[str, CompoundSelect[Any]]
    roles_at_event: DriverStatement
    public_event: Select[Any]


@cache
def _statements() -> _Statements:
    o = scopes.organizations()
    e = scopes.events()
    # NULLs typed as JSON: PostgreSQL cannot unite text with jsonb, and the union's result
    # type (from its first SELECT) decides that SQLite's JSON text is decoded.
    no_limit = cast(null(), JSONType)
    platform_roles = select(
        literal("platform").label("kind"), PlatformRole.role, no_limit.label("event_ids")
    ).where(PlatformRole.user_id == bindparam("user_id"))
    workspace_roles = select(literal("workspace"), o.workspace_member_role, no_limit).where(
        o.workspace_member_workspace_id == bindparam("ws_id"),
        o.workspace_member_user_id == bindparam("user_id"),
    )
    team_roles = select(literal("team"), o.team_member_role, o.team_member_event_ids).where(
        o.team_member_organization_id == bindparam("org_id"),
        o.team_member_user_id == bindparam("user_id"),
    )
    # Event scope (every scan, every organizer read of an event) in one round trip: the
    # roles reach the event through subqueries, and a `scope` row carries the event's
    # organization and workspace, absent when there is no such event.
    no_id = cast(null(), String)
    event_org = select(e.event_organization_id).where(e.event_id == bindparam("event_id"))
    event_ws = select(o.organization_workspace_id).where(
        o.organization_id == event_org.scalar_subquery()
    )
    roles_at_event = union_all(
        select(
            literal("platform").label("kind"),
            PlatformRole.role,
            no_limit.label("event_ids"),
            no_id.label("org_id"),
            no_id.label("ws_id"),
        ).where(PlatformRole.user_id == bindparam("user_id")),
        select(literal("workspace"), o.workspace_member_role, no_limit, no_id, no_id).where(
            o.workspace_member_workspace_id == event_ws.scalar_subquery(),
            o.workspace_member_user_id == bindparam("user_id"),
        ),
        select(literal("team"), o.team_member_role, o.team_member_event_ids, no_id, no_id).where(
            o.team_member_organization_id == event_org.scalar_subquery(),
            o.team_member_user_id == bindparam("user_id"),
        ),
        select(
            literal("scope"), no_id, no_limit, e.event_organization_id, o.organization_workspace_id
        ).where(e.event_id == bindparam("event_id"), o.organization_id == e.event_organization_id),
    )
    return _Statements(
        org_workspace=select(o.organization_workspace_id).where(
            o.organization_id == bindparam("org_id")
        ),
        roles_by_reach={
            "platform": union_all(platform_roles),
            "workspace": union_all(platform_roles, workspace_roles),
            "organization": union_all(platform_roles, workspace_roles, team_roles),
        },
        roles_at_event=DriverStatement(roles_at_event),
        public_event=select(e.event_id).where(e.event_id == bindparam("event_id"), *e.public_page),
    )


scopes.on_registration(_statements.cache_clear)


def _resolve(session: Session, scope: Scope) -> tuple[str | None, str | None]:
    """(organization_id, workspace_id) of a platform, workspace or organization scope; 404
    when it does not exist."""
    if scope.kind == "platform":
        return None, None
    if scope.kind == "workspace":
        return None, scope.id
    ws = session.connection().scalar(_statements().org_workspace, {"org_id": scope.id})
    if ws is None:
        raise ScopeNotFound("No such organization.", resource="organization")
    return scope.id, ws


def _roles(
    session: Session, user_id: str, scope: Scope
) -> tuple[str | None, str | None, list[tuple[str, str, Any]]]:
    """(organization id, workspace id, the caller's (kind, role, event_ids) there)."""
    if scope.kind != "event":
        org_id, ws_id = _resolve(session, scope)
        reach = "organization" if org_id is not None else "workspace" if ws_id else "platform"
        params = {"user_id": user_id, "ws_id": ws_id, "org_id": org_id}
        found = session.connection().execute(_statements().roles_by_reach[reach], params)
        return org_id, ws_id, [(str(r[0]), str(r[1]), r[2]) for r in found]
    params = {"user_id": user_id, "event_id": scope.id}
    rows = _statements().roles_at_event.rows(session, params)
    where = next((r for r in rows if r.kind == "scope"), None)
    if where is None:
        raise ScopeNotFound("No such event.", resource="event")
    roles = [(str(r.kind), str(r.role), r.event_ids) for r in rows if r.kind != "scope"]
    return where.org_id, where.ws_id, roles


def my_grant(session: Session, user_id: str, organization_id: str) -> Grant:
    """The caller's capabilities in an organization; 404 when they hold no role there."""
    grant = grant_for(session, user_id, Scope.organization(organization_id))
    if not grant.capabilities:
        raise ScopeNotFound("No such organization.", resource="organization")
    return grant


def grant_for(session: Session, user_id: str, scope: Scope) -> Grant:
    """Every capability `user_id` holds in `scope`, from all of their roles.

    A team role limited to some events counts at event scope only for those events, and at
    organization scope keeps only `LIMITED_ROLE_KEEPS` with `Grant.event_ids` naming the
    events; an unlimited role (team, workspace or platform) lifts the limit.
    """
    org_id, ws_id, rows = _roles(session, user_id, scope)
    caps: set[Capability] = set()
    limited_to: frozenset[str] | None = None
    org_wide = False
    for kind, role, event_ids in rows:
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
                caps |= TEAM_ROLES.get(role, frozenset()) & LIMITED_ROLE_KEEPS
        else:  # organization scope, a member limited to some events
            caps |= TEAM_ROLES.get(role, frozenset()) & LIMITED_ROLE_KEEPS
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
    grant.require(capability)
    return grant


def require_at_event(
    session: Session, user_id: str, capability: Capability, event_id: str
) -> Grant:
    """`require_capability` at an event, except that a caller with no role at an event the
    public pages show gets 403 `capability_required`: its existence is no secret, and "No
    such event" would send door staff looking for a wrong id instead of for their role."""
    grant = grant_for(session, user_id, Scope.event(event_id))
    if not grant.capabilities:
        public = session.scalar(_statements().public_event, {"event_id": event_id})
        if public is None:
            raise ScopeNotFound("No such event.", resource="event")
    grant.require(capability)
    return grant


@dataclass(frozen=True)
class Guarded:
    """What `guard` hands a use case: the caller's grant in the scope, and `audit` to write
    the audit row of the change it then makes (in the same transaction)."""

    session: Session
    actor_user_id: str
    scope: Scope
    grant: Grant

    def require(self, capability: Capability) -> None:
        self.grant.require(capability)

    def audit(
        self,
        action: str,
        target_type: str,
        target_id: str,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        """One audit row for the change, placed in the scope's organization (or workspace)
        log; an update that changed nothing (`before == after`) writes none."""
        if before is not None and after is not None and before == after:
            return
        in_org = self.scope.kind in ("organization", "event")
        record_audit(
            self.session,
            actor_user_id=self.actor_user_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            organization_id=self.grant.organization_id if in_org else None,
            workspace_id=self.grant.workspace_id if self.scope.kind == "workspace" else None,
            before=before,
            after=after,
        )


def guard(session: Session, actor_user_id: str, capability: Capability, scope: Scope) -> Guarded:
    """Check, act, audit: `g = guard(...)` raises like `require_capability`; the use case
    then acts and calls `g.audit("team_member.removed", "team_member", member.id, ...)`."""
    grant = require_capability(session, actor_user_id, capability, scope)
    return Guarded(session, actor_user_id, scope, grant)


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
    workspace_id: str | None = None,
) -> None:
    """Writes one audit row in the caller's transaction. `action` is `noun.past-tense`
    (`order.refunded`; the list is in docs/architecture.md).
    Give `organization_id` for a change inside an organization (read at its audit route),
    `workspace_id` for a workspace-level one; the request id is taken from the request."""
    session.add(
        AuditEntry(
            id=AuditEntryId.new(),
            actor_user_id=actor_user_id,
            organization_id=organization_id,
            workspace_id=workspace_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            before=before,
            after=after,
            request_id=request_id_var.get(),
        )
    )


def events_of_organization(
    session: Session, organization_id: str, event_ids: list[str]
) -> set[str]:
    """Which of `event_ids` are events of the organization (to validate a role's limit)."""
    if not event_ids:
        return set()
    e = scopes.events()
    return set(
        session.scalars(
            select(e.event_id).where(
                e.event_organization_id == organization_id, e.event_id.in_(event_ids)
            )
        )
    )


# --- platform roles ----------------------------------------------------------------------


ROLES_OLDEST_FIRST = Keyset(
    SortKey(PlatformRole.created_at, datetime), SortKey(PlatformRole.id, PlatformRoleId)
)
AUDIT_NEWEST_FIRST = Keyset(
    SortKey(AuditEntry.created_at, datetime, descending=True),
    SortKey(AuditEntry.id, AuditEntryId, descending=True),
)


def platform_roles(
    session: Session, actor_user_id: str, *, limit: int, cursor: str | None
) -> tuple[list[tuple[PlatformRole, User]], str | None]:
    """A page of (grant, user), oldest first; needs `platform.roles.manage`."""
    require_capability(session, actor_user_id, Capability.PLATFORM_ROLES_MANAGE, Scope.platform())
    query = select(PlatformRole, User).join(User, User.id == PlatformRole.user_id)
    rows, next_cursor = ROLES_OLDEST_FIRST.page(
        session, query, limit=limit, cursor=cursor, scalars=False, key_of=lambda r: r[0]
    )
    return [(r, u) for r, u in rows], next_cursor


def _find_user(session: Session, *, user_id: str | None, email: str | None) -> User:
    if user_id is not None:
        user = session.get(User, user_id)
    else:
        user = session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is None or user.deleted_at is not None:
        raise UserNotFound()
    return user


def grant_platform_role(
    session: Session,
    *,
    actor_user_id: str | None,
    role: str,
    user_id: str | None = None,
    email: str | None = None,
) -> tuple[PlatformRole, User]:
    """Grants `role` to the user named by id or e-mail; a repeat grant is a 409."""
    user = _find_user(session, user_id=user_id, email=email)
    row = PlatformRole(
        id=PlatformRoleId.new(), user_id=user.id, role=role, granted_by_user_id=actor_user_id
    )
    try:
        with session.begin_nested():  # the unique (user_id, role) settles concurrent grants
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise RoleAlreadyGranted() from exc
    record_audit(
        session,
        actor_user_id=actor_user_id,
        action="platform_role.granted",
        target_type="platform_role",
        target_id=row.id,
        after={"user_id": user.id, "role": role},
    )
    return row, user


def grant_role(
    session: Session,
    actor_user_id: str,
    *,
    role: str,
    user_id: str | None,
    email: str | None,
) -> tuple[PlatformRole, User]:
    """A superadmin grants a platform role (`platform.roles.manage`)."""
    require_capability(session, actor_user_id, Capability.PLATFORM_ROLES_MANAGE, Scope.platform())
    return grant_platform_role(
        session, actor_user_id=actor_user_id, role=role, user_id=user_id, email=email
    )


def revoke_role(session: Session, actor_user_id: str, role_id: str) -> None:
    """A superadmin revokes a platform role (`platform.roles.manage`)."""
    require_capability(session, actor_user_id, Capability.PLATFORM_ROLES_MANAGE, Scope.platform())
    revoke_platform_role(session, actor_user_id=actor_user_id, role_id=role_id)


def revoke_platform_role(session: Session, *, actor_user_id: str, role_id: str) -> None:
    """Revokes one grant; the last superadmin cannot be revoked. Superadmin revocations
    lock every superadmin row first, so two concurrent revocations cannot both pass the
    count."""
    target = session.get(PlatformRole, role_id)
    if target is None:
        raise PlatformRoleNotFound()
    if target.role == "superadmin":
        superadmins = session.scalars(
            select(PlatformRole.id).where(PlatformRole.role == "superadmin").with_for_update()
        ).all()
        if target.id not in superadmins:
            raise PlatformRoleNotFound()
        if len(superadmins) <= 1:
            raise LastSuperadmin()
    session.execute(delete(PlatformRole).where(PlatformRole.id == role_id))
    record_audit(
        session,
        actor_user_id=actor_user_id,
        action="platform_role.revoked",
        target_type="platform_role",
        target_id=role_id,
        before={"user_id": target.user_id, "role": target.role},
    )


def bootstrap_superadmin(session: Session, email: str) -> tuple[User, bool]:
    """`admitone create-admin EMAIL`: the user with that e-mail (created unverified when
    missing: signing in with the e-mail verifies it) becomes a superadmin. Idempotent;
    returns the user and whether the role was newly granted."""
    address = email.strip().lower()
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        user = User(id=UserId.new(), email=address)
        session.add(user)
        session.flush()
    held = session.scalar(
        select(PlatformRole.id).where(
            PlatformRole.user_id == user.id, PlatformRole.role == "superadmin"
        )
    )
    if held is not None:
        return user, False
    grant_platform_role(session, actor_user_id=None, role="superadmin", user_id=user.id)
    return user, True


# --- audit log ---------------------------------------------------------------------------


def audit_entries(
    session: Session,
    actor_user_id: str,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[AuditEntry], str | None]:
    """A page of the audit log of an organization, a workspace or (platform scope) the
    whole platform, newest first; needs `audit.read` there."""
    require_capability(session, actor_user_id, Capability.AUDIT_READ, scope)
    query = select(AuditEntry)
    if scope.kind == "organization":
        query = query.where(AuditEntry.organization_id == scope.id)
    elif scope.kind == "workspace":
        query = query.where(AuditEntry.workspace_id == scope.id)
    return AUDIT_NEWEST_FIRST.page(session, query, limit=limit, cursor=cursor)
