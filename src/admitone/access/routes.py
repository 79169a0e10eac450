"""The caller's capabilities, platform roles (superadmins) and the organization audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.orm import Session

from admitone.access import service as access
from admitone.access.capabilities import Capability
from admitone.access.errors import ScopeNotFound
from admitone.access.models import AuditEntry, PlatformRole
from admitone.access.schemas import (
    AuditEntryOut,
    CapabilitiesOut,
    PlatformRoleIn,
    PlatformRoleOut,
)
from admitone.access.service import Scope, require_capability
from admitone.auth.deps import CurrentUser
from admitone.core.http import Db, Page, Paging
from admitone.core.ids import OrganizationId, PlatformRoleId, WorkspaceId
from admitone.orgs.service import next_cursor, parse_cursor
from admitone.users.models import User

api_router = APIRouter(tags=["access"])

_denied: dict[int | str, dict[str, Any]] = {
    403: {"description": "The caller's roles lack the capability (`capability_required`)."},
    404: {"description": "No such resource, or the caller may not know it exists."},
}


@api_router.get("/me/capabilities", response_model=CapabilitiesOut, responses=_denied)
def my_capabilities(
    db: Db, actor: CurrentUser, organization_id: Annotated[OrganizationId, Query()]
) -> CapabilitiesOut:
    """Everything the caller may do in the organization, from all of their roles; 404 when
    they hold no role there."""

    def run(session: Session) -> access.Grant:
        grant = access.grant_for(session, actor.user_id, Scope.organization(organization_id))
        if not grant.capabilities:
            raise ScopeNotFound("No such organization.", resource="organization")
        return grant

    grant = db.query(run)
    return CapabilitiesOut(
        organization_id=organization_id,
        workspace_id=grant.workspace_id,
        capabilities=sorted(grant.capabilities),
        event_ids=sorted(grant.event_ids) if grant.event_ids is not None else None,
    )


def _role_out(row: PlatformRole, user: User) -> PlatformRoleOut:
    return PlatformRoleOut(
        id=row.id,
        user_id=row.user_id,
        email=user.email,
        role=row.role,
        granted_by_user_id=row.granted_by_user_id,
        created_at=row.created_at,
    )


@api_router.get("/platform/roles", response_model=Page[PlatformRoleOut], responses=_denied)
def list_platform_roles(db: Db, actor: CurrentUser, paging: Paging) -> Page[PlatformRoleOut]:
    cursor = parse_cursor(paging.cursor)

    def run(session: Session) -> list[tuple[PlatformRole, User]]:
        require_capability(
            session, actor.user_id, Capability.PLATFORM_ROLES_MANAGE, Scope.platform()
        )
        return access.platform_roles(session, limit=paging.limit + 1, cursor=cursor)

    rows = db.query(run)
    more = len(rows) > paging.limit
    rows = rows[: paging.limit]
    return Page[PlatformRoleOut](
        items=[_role_out(r, u) for r, u in rows],
        next_cursor=next_cursor(rows[-1][0].created_at, rows[-1][0].id) if more else None,
    )


@api_router.post(
    "/platform/roles",
    status_code=201,
    response_model=PlatformRoleOut,
    responses={**_denied, 409: {"description": "`role_already_granted`"}},
)
def grant_platform_role(db: Db, actor: CurrentUser, body: PlatformRoleIn) -> PlatformRoleOut:
    def run(session: Session) -> tuple[PlatformRole, User]:
        require_capability(
            session, actor.user_id, Capability.PLATFORM_ROLES_MANAGE, Scope.platform()
        )
        return access.grant_platform_role(
            session,
            actor_user_id=actor.user_id,
            role=body.role,
            user_id=body.user_id,
            email=str(body.email) if body.email else None,
        )

    return _role_out(*db.mutation(run))


@api_router.delete(
    "/platform/roles/{role_id}",
    status_code=204,
    response_class=Response,
    responses={**_denied, 409: {"description": "`last_superadmin`"}},
)
def revoke_platform_role(
    db: Db, actor: CurrentUser, role_id: Annotated[PlatformRoleId, Path()]
) -> Response:
    def run(session: Session) -> None:
        require_capability(
            session, actor.user_id, Capability.PLATFORM_ROLES_MANAGE, Scope.platform()
        )
        access.revoke_platform_role(session, actor_user_id=actor.user_id, role_id=role_id)

    db.mutation(run)
    return Response(status_code=204)


def _audit_page(
    db: Db, actor_id: str, scope: Scope, paging: Paging, **where: str
) -> Page[AuditEntryOut]:
    cursor = parse_cursor(paging.cursor)

    def run(session: Session) -> list[AuditEntry]:
        require_capability(session, actor_id, Capability.AUDIT_READ, scope)
        return access.audit_entries(session, limit=paging.limit + 1, cursor=cursor, **where)

    rows = db.query(run)
    more = len(rows) > paging.limit
    rows = rows[: paging.limit]
    return Page[AuditEntryOut](
        items=[AuditEntryOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=next_cursor(rows[-1].created_at, rows[-1].id) if more else None,
    )


@api_router.get(
    "/organizations/{organization_id}/audit",
    response_model=Page[AuditEntryOut],
    responses=_denied,
)
def organization_audit(
    db: Db, actor: CurrentUser, organization_id: Annotated[OrganizationId, Path()], paging: Paging
) -> Page[AuditEntryOut]:
    """Privileged changes in the organization, newest first."""
    return _audit_page(
        db, actor.user_id, Scope.organization(organization_id), paging,
        organization_id=organization_id,
    )  # fmt: skip


@api_router.get(
    "/workspaces/{workspace_id}/audit", response_model=Page[AuditEntryOut], responses=_denied
)
def workspace_audit(
    db: Db, actor: CurrentUser, workspace_id: Annotated[WorkspaceId, Path()], paging: Paging
) -> Page[AuditEntryOut]:
    """Workspace-level changes (founding, members, invitations), newest first."""
    return _audit_page(
        db, actor.user_id, Scope.workspace(workspace_id), paging, workspace_id=workspace_id
    )


@api_router.get("/platform/audit", response_model=Page[AuditEntryOut], responses=_denied)
def platform_audit(db: Db, actor: CurrentUser, paging: Paging) -> Page[AuditEntryOut]:
    """Every privileged change on the platform (platform roles included), newest first."""
    return _audit_page(db, actor.user_id, Scope.platform(), paging)
