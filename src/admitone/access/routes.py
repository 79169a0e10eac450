"""The caller's capabilities, platform roles (superadmins) and the organization audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from admitone.access import service as access
from admitone.access.models import PlatformRole
from admitone.access.schemas import (
    AuditEntryOut,
    CapabilitiesOut,
    PlatformRoleIn,
    PlatformRoleOut,
)
from admitone.access.service import Scope
from admitone.auth.deps import CurrentUser
from admitone.core.http import Db, Page, Paging
from admitone.core.ids import OrganizationId, PlatformRoleId, WorkspaceId
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

    grant = db.query(access.my_grant, actor.user_id, organization_id)
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
    rows, cursor = db.query(
        access.platform_roles, actor.user_id, limit=paging.limit, cursor=paging.cursor
    )
    return Page[PlatformRoleOut](items=[_role_out(r, u) for r, u in rows], next_cursor=cursor)


@api_router.post(
    "/platform/roles",
    status_code=201,
    response_model=PlatformRoleOut,
    responses={**_denied, 409: {"description": "`role_already_granted`"}},
)
def grant_platform_role(db: Db, actor: CurrentUser, body: PlatformRoleIn) -> PlatformRoleOut:
    row, user = db.mutation(
        access.grant_role,
        actor.user_id,
        role=body.role,
        user_id=body.user_id,
        email=str(body.email) if body.email else None,
    )
    return _role_out(row, user)


@api_router.delete(
    "/platform/roles/{role_id}",
    status_code=204,
    response_class=Response,
    responses={**_denied, 409: {"description": "`last_superadmin`"}},
)
def revoke_platform_role(
    db: Db, actor: CurrentUser, role_id: Annotated[PlatformRoleId, Path()]
) -> Response:
    db.mutation(access.revoke_role, actor.user_id, role_id)
    return Response(status_code=204)


def _audit_page(db: Db, actor_id: str, scope: Scope, paging: Paging) -> Page[AuditEntryOut]:
    rows, cursor = db.query(
        access.audit_entries, actor_id, scope, limit=paging.limit, cursor=paging.cursor
    )
    return Page[AuditEntryOut](
        items=[AuditEntryOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=cursor,
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
    return _audit_page(db, actor.user_id, Scope.organization(organization_id), paging)


@api_router.get(
    "/workspaces/{workspace_id}/audit", response_model=Page[AuditEntryOut], responses=_denied
)
def workspace_audit(
    db: Db, actor: CurrentUser, workspace_id: Annotated[WorkspaceId, Path()], paging: Paging
) -> Page[AuditEntryOut]:
    """Workspace-level changes (founding, members, invitations), newest first."""
    return _audit_page(db, actor.user_id, Scope.workspace(workspace_id), paging)


@api_router.get("/platform/audit", response_model=Page[AuditEntryOut], responses=_denied)
def platform_audit(db: Db, actor: CurrentUser, paging: Paging) -> Page[AuditEntryOut]:
    """Every privileged change on the platform (platform roles included), newest first."""
    return _audit_page(db, actor.user_id, Scope.platform(), paging)
