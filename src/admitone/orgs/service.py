"""Tenancy use cases: workspaces, organizations, team and workspace members, invitations.

These functions hold the rules of membership; they do not check the caller's capabilities
(routes compose them with `access.require_capability` and `access.record_audit`, since
`access` comes after `orgs` in the dependency order).

Race-freedom: every change to who belongs to an organization (or a workspace) first locks
that organization's (workspace's) row, so "at least one owner remains" and "one pending
invitation per address" are checked and written under the same lock. SQLite has one
writer at a time anyway (`BEGIN IMMEDIATE`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.errors import RateLimited
from admitone.core.http import InvalidCursor, decode_cursor, encode_cursor
from admitone.core.ids import (
    InvitationId,
    OrganizationId,
    TeamMemberId,
    WorkspaceId,
    WorkspaceMemberId,
)
from admitone.emails.service import queue_email, seal
from admitone.orgs.errors import (
    AlreadyMember,
    EmailNotVerified,
    InvitationEmailMismatch,
    InvitationExpired,
    InvitationNotFound,
    InvitationNotPending,
    InvitationPending,
    InvitationRevoked,
    InvitationUsed,
    LastOwner,
    MemberNotFound,
    OrganizationNotFound,
    SlugTaken,
    WorkspaceNotFound,
)
from admitone.orgs.models import Invitation, Organization, TeamMember, Workspace, WorkspaceMember
from admitone.settings import Settings
from admitone.users.models import User

INVITATION_TTL = timedelta(days=7)
RESEND_INTERVAL = timedelta(minutes=1)
Cursor = tuple[datetime, str] | None


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_token(token: str) -> str:
    """Invitation tokens are 32 random bytes, so one SHA-256 is enough to store them: a
    leaked table does not yield working links, and lookup by hash needs no comparison."""
    return hashlib.sha256(token.encode()).hexdigest()


def _after(column_created: Any, column_id: Any, cursor: Cursor) -> ColumnElement[bool]:
    if cursor is None:
        return true()
    created, last_id = cursor
    return or_(column_created > created, and_(column_created == created, column_id > last_id))


# --- workspaces --------------------------------------------------------------------------


def found_workspace(session: Session, user_id: str, name: str) -> Workspace:
    """A new workspace whose founder is its owner."""
    ws = Workspace(id=WorkspaceId.new(), name=name, created_by_user_id=user_id)
    session.add(ws)
    session.flush()
    session.add(
        WorkspaceMember(
            id=WorkspaceMemberId.new(), workspace_id=ws.id, user_id=user_id, role="owner"
        )
    )
    session.flush()
    return ws


def get_workspace(session: Session, workspace_id: str) -> Workspace:
    ws = session.get(Workspace, workspace_id)
    if ws is None:
        raise WorkspaceNotFound()
    return ws


def workspaces_of_user(
    session: Session, user_id: str, *, limit: int, cursor: Cursor
) -> list[tuple[Workspace, str]]:
    rows = session.execute(
        select(Workspace, WorkspaceMember.role)
        .join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
        .where(
            WorkspaceMember.user_id == user_id, _after(Workspace.created_at, Workspace.id, cursor)
        )
        .order_by(Workspace.created_at, Workspace.id)
        .limit(limit)
    )
    return [(ws, role) for ws, role in rows]


def workspace_role(session: Session, workspace_id: str, user_id: str) -> str | None:
    return session.scalar(
        select(WorkspaceMember.role).where(
            WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.user_id == user_id
        )
    )


def workspace_members(
    session: Session, workspace_id: str, *, limit: int, cursor: Cursor
) -> list[tuple[WorkspaceMember, User]]:
    rows = session.execute(
        select(WorkspaceMember, User)
        .join(User, User.id == WorkspaceMember.user_id)
        .where(
            WorkspaceMember.workspace_id == workspace_id,
            _after(WorkspaceMember.created_at, WorkspaceMember.id, cursor),
        )
        .order_by(WorkspaceMember.created_at, WorkspaceMember.id)
        .limit(limit)
    )
    return [(m, u) for m, u in rows]


def _lock_workspace(session: Session, workspace_id: str) -> Workspace:
    ws = session.scalar(select(Workspace).where(Workspace.id == workspace_id).with_for_update())
    if ws is None:
        raise WorkspaceNotFound()
    return ws


def locked_workspace_member(session: Session, workspace_id: str, member_id: str) -> WorkspaceMember:
    """The member, after locking its workspace so that owner counts hold until commit."""
    _lock_workspace(session, workspace_id)
    member = session.scalar(
        select(WorkspaceMember).where(
            WorkspaceMember.id == member_id, WorkspaceMember.workspace_id == workspace_id
        )
    )
    if member is None:
        raise MemberNotFound()
    return member


def _other_workspace_owners(session: Session, member: WorkspaceMember) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                WorkspaceMember.workspace_id == member.workspace_id,
                WorkspaceMember.role == "owner",
                WorkspaceMember.id != member.id,
            )
        )
        or 0
    )


def change_workspace_member(session: Session, member: WorkspaceMember, role: str) -> None:
    """`member` must come from `locked_workspace_member` in this transaction."""
    if member.role == "owner" and role != "owner" and not _other_workspace_owners(session, member):
        raise LastOwner()
    member.role = role
    session.flush()


def remove_workspace_member(session: Session, member: WorkspaceMember) -> None:
    """`member` must come from `locked_workspace_member` in this transaction."""
    if member.role == "owner" and not _other_workspace_owners(session, member):
        raise LastOwner()
    session.execute(delete(WorkspaceMember).where(WorkspaceMember.id == member.id))


# --- organizations -----------------------------------------------------------------------

_SLUG_STRIP = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _SLUG_STRIP.sub("-", ascii_name.lower()).strip("-")[:60] or "org"


def create_organization(
    session: Session, user_id: str, workspace_id: str, name: str
) -> Organization:
    """A new organization in the workspace; its creator is the first team owner. The slug
    comes from the name, with a short random suffix when it is taken."""
    get_workspace(session, workspace_id)
    base = slugify(name)
    oid = OrganizationId.new()
    for attempt in range(6):
        slug = base if attempt == 0 else f"{base}-{secrets.token_hex(3)}"
        org = Organization(id=oid, workspace_id=workspace_id, name=name, slug=slug)
        try:
            with session.begin_nested():  # a taken slug rolls back only this insert
                session.add(org)
                session.flush()
        except IntegrityError:
            continue
        break
    else:  # six collisions in a row: someone is racing us on purpose
        raise SlugTaken()
    session.add(
        TeamMember(id=TeamMemberId.new(), organization_id=oid, user_id=user_id, role="owner")
    )
    session.flush()
    return org


def get_organization(session: Session, organization_id: str) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise OrganizationNotFound()
    return org


def organizations_of_user(
    session: Session, user_id: str, *, workspace_id: str | None, limit: int, cursor: Cursor
) -> list[Organization]:
    """Organizations where the user is on the team, or in a workspace they belong to."""
    team = select(TeamMember.organization_id).where(TeamMember.user_id == user_id)
    spaces = select(WorkspaceMember.workspace_id).where(WorkspaceMember.user_id == user_id)
    query = select(Organization).where(
        or_(Organization.id.in_(team), Organization.workspace_id.in_(spaces)),
        _after(Organization.created_at, Organization.id, cursor),
    )
    if workspace_id is not None:
        query = query.where(Organization.workspace_id == workspace_id)
    return list(
        session.scalars(query.order_by(Organization.created_at, Organization.id).limit(limit))
    )


def organization_view(org: Organization) -> dict[str, Any]:
    return {"name": org.name, "slug": org.slug}


def update_organization(
    session: Session, organization_id: str, changes: dict[str, Any]
) -> tuple[Organization, dict[str, Any]]:
    """Applies `changes` (name, slug); returns the organization and its state before."""
    org = get_organization(session, organization_id)
    before = organization_view(org)
    for key in ("name", "slug"):
        if key in changes:
            setattr(org, key, changes[key])
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise SlugTaken() from exc
    return org, before


# --- team members ------------------------------------------------------------------------


def team_members(
    session: Session, organization_id: str, *, limit: int, cursor: Cursor
) -> list[tuple[TeamMember, User]]:
    rows = session.execute(
        select(TeamMember, User)
        .join(User, User.id == TeamMember.user_id)
        .where(
            TeamMember.organization_id == organization_id,
            _after(TeamMember.created_at, TeamMember.id, cursor),
        )
        .order_by(TeamMember.created_at, TeamMember.id)
        .limit(limit)
    )
    return [(m, u) for m, u in rows]


def lock_organization(session: Session, organization_id: str) -> Organization:
    org = session.scalar(
        select(Organization).where(Organization.id == organization_id).with_for_update()
    )
    if org is None:
        raise OrganizationNotFound()
    return org


def locked_team_member(session: Session, organization_id: str, member_id: str) -> TeamMember:
    """The member, after locking its organization so that owner counts hold until commit."""
    lock_organization(session, organization_id)
    member = session.scalar(
        select(TeamMember).where(
            TeamMember.id == member_id, TeamMember.organization_id == organization_id
        )
    )
    if member is None:
        raise MemberNotFound()
    return member


def _other_team_owners(session: Session, member: TeamMember) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                TeamMember.organization_id == member.organization_id,
                TeamMember.role == "owner",
                TeamMember.id != member.id,
            )
        )
        or 0
    )


def team_member_view(member: TeamMember) -> dict[str, Any]:
    return {"user_id": member.user_id, "role": member.role, "event_ids": member.event_ids}


def change_team_member(session: Session, member: TeamMember, changes: dict[str, Any]) -> None:
    """Applies `changes` (role, event_ids); `member` must come from `locked_team_member`."""
    role = changes.get("role", member.role)
    if member.role == "owner" and role != "owner" and not _other_team_owners(session, member):
        raise LastOwner()
    member.role = role
    if "event_ids" in changes:
        member.event_ids = changes["event_ids"]
    if member.role == "owner":
        member.event_ids = None  # an owner reaches every event
    session.flush()


def remove_team_member(session: Session, member: TeamMember) -> None:
    """`member` must come from `locked_team_member` in this transaction."""
    if member.role == "owner" and not _other_team_owners(session, member):
        raise LastOwner()
    session.execute(delete(TeamMember).where(TeamMember.id == member.id))


# --- invitations -------------------------------------------------------------------------


def invitation_status(inv: Invitation, now: datetime | None = None) -> str:
    if inv.accepted_at is not None:
        return "accepted"
    if inv.revoked_at is not None:
        return "revoked"
    return "expired" if inv.expires_at <= (now or utcnow()) else "pending"


def invitation_view(inv: Invitation) -> dict[str, Any]:
    return {
        "email": inv.email,
        "role": inv.role,
        "event_ids": inv.event_ids,
        "status": invitation_status(inv),
    }


def _accept_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/invitations/{token}"


def _send_invitation(
    session: Session, inv: Invitation, token: str, settings: Settings, target_name: str
) -> None:
    inviter = session.get(User, inv.invited_by_user_id)
    queue_email(
        session,
        to=inv.email,
        template="invitation",
        context={
            "kind": "team" if inv.organization_id else "workspace",
            "target_name": target_name,
            "inviter_name": (inviter.name or inviter.email or "A teammate")
            if inviter
            else "A teammate",
            "role": inv.role.replace("_", " "),
            "limited_to_events": inv.event_ids is not None,
            # The link carries the token: sealed, so the job row does not hold it in clear.
            "sealed": seal(settings, {"accept_url": _accept_link(settings.base_url, token)}),
            "expires_at": inv.expires_at.strftime("%d %B %Y, %H:%M UTC"),
        },
    )


def _target_name(session: Session, inv: Invitation) -> str:
    if inv.organization_id is not None:
        return get_organization(session, inv.organization_id).name
    assert inv.workspace_id is not None
    return get_workspace(session, inv.workspace_id).name


def invite(
    session: Session,
    *,
    inviter_id: str,
    email: str,
    role: str,
    settings: Settings,
    organization_id: str | None = None,
    workspace_id: str | None = None,
    event_ids: list[str] | None = None,
) -> Invitation:
    """A pending invitation to an organization's team or a workspace, and its e-mail (sent
    after commit). Refuses an address that is already a member or already invited."""
    email = normalize_email(email)
    if organization_id is not None:
        target_name = lock_organization(session, organization_id).name
        member_of = select(TeamMember.id).where(TeamMember.organization_id == organization_id)
        member_of = member_of.join(User, User.id == TeamMember.user_id)
        pending_for = Invitation.organization_id == organization_id
    else:
        assert workspace_id is not None
        target_name = _lock_workspace(session, workspace_id).name
        member_of = select(WorkspaceMember.id).where(WorkspaceMember.workspace_id == workspace_id)
        member_of = member_of.join(User, User.id == WorkspaceMember.user_id)
        pending_for = Invitation.workspace_id == workspace_id
    if session.scalar(member_of.where(User.email == email)) is not None:
        raise AlreadyMember()
    now = utcnow()
    pending = session.scalar(
        select(Invitation.id).where(
            pending_for,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
    )
    if pending is not None:
        raise InvitationPending(invitation_id=pending)
    token = secrets.token_urlsafe(32)
    inv = Invitation(
        id=InvitationId.new(),
        organization_id=organization_id,
        workspace_id=workspace_id,
        email=email,
        role=role,
        event_ids=event_ids,
        token_hash=hash_token(token),
        invited_by_user_id=inviter_id,
        expires_at=now + INVITATION_TTL,
        last_sent_at=now,
    )
    session.add(inv)
    session.flush()
    _send_invitation(session, inv, token, settings, target_name)
    return inv


def get_invitation(session: Session, invitation_id: str) -> Invitation:
    inv = session.get(Invitation, invitation_id)
    if inv is None:
        raise InvitationNotFound()
    return inv


def invitations_of(
    session: Session,
    *,
    organization_id: str | None = None,
    workspace_id: str | None = None,
    limit: int,
    cursor: Cursor,
) -> list[Invitation]:
    target = (
        Invitation.organization_id == organization_id
        if organization_id is not None
        else Invitation.workspace_id == workspace_id
    )
    return list(
        session.scalars(
            select(Invitation)
            .where(target, _after(Invitation.created_at, Invitation.id, cursor))
            .order_by(Invitation.created_at, Invitation.id)
            .limit(limit)
        )
    )


_PENDING = and_(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))


def resend_invitation(session: Session, invitation_id: str, settings: Settings) -> Invitation:
    """A new token and a fresh expiry, e-mailed again; the old link stops working. At most
    one send a minute per invitation."""
    now = utcnow()
    token = secrets.token_urlsafe(32)
    done = session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation_id,
            _PENDING,
            Invitation.last_sent_at <= now - RESEND_INTERVAL,
        )
        .values(
            token_hash=hash_token(token),
            expires_at=now + INVITATION_TTL,
            last_sent_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    inv = get_invitation(session, invitation_id)
    session.refresh(inv)
    if done.rowcount == 0:  # type: ignore[attr-defined]
        if inv.accepted_at is not None or inv.revoked_at is not None:
            raise InvitationNotPending()
        wait = inv.last_sent_at + RESEND_INTERVAL - now
        raise RateLimited(
            max(1, int(wait.total_seconds()) + 1),
            "This invitation was just sent; wait a minute before resending.",
        )
    _send_invitation(session, inv, token, settings, _target_name(session, inv))
    return inv


def revoke_invitation(session: Session, invitation_id: str) -> Invitation:
    now = utcnow()
    done = session.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, _PENDING)
        .values(revoked_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    inv = get_invitation(session, invitation_id)
    session.refresh(inv)
    if done.rowcount == 0:  # type: ignore[attr-defined]
        raise InvitationNotPending()
    return inv


@dataclass(frozen=True)
class Acceptance:
    invitation: Invitation
    member_id: str
    role: str
    joined: bool  # False when the invitee had already accepted this invitation


def accept_invitation(session: Session, token: str, user_id: str) -> Acceptance:
    """Makes the signed-in invitee a member. The token works once, before it expires, for a
    user whose verified e-mail is the invited address; accepting again is a no-op that
    answers the same membership."""
    inv = session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    if inv is None:
        raise InvitationNotFound()
    user = session.get(User, user_id)
    if user is None or user.email is None or user.email_verified_at is None:
        raise EmailNotVerified()
    if inv.accepted_at is not None or inv.revoked_at is not None:
        return _not_pending(session, inv, user_id)
    if inv.email != normalize_email(user.email):
        raise InvitationEmailMismatch()
    if inv.organization_id is not None:
        lock_organization(session, inv.organization_id)
    else:
        assert inv.workspace_id is not None
        _lock_workspace(session, inv.workspace_id)
    now = utcnow()
    # The condition makes the token single-use even when two accepts race.
    done = session.execute(
        update(Invitation)
        .where(Invitation.id == inv.id, _PENDING, Invitation.expires_at > now)
        .values(accepted_at=now, accepted_by_user_id=user_id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(inv)
    if done.rowcount == 0:  # type: ignore[attr-defined]
        return _not_pending(session, inv, user_id)
    if _membership(session, inv, user_id) is not None:
        raise AlreadyMember()
    member_id: str
    if inv.organization_id is not None:
        member_id = TeamMemberId.new()
        session.add(
            TeamMember(
                id=member_id,
                organization_id=inv.organization_id,
                user_id=user_id,
                role=inv.role,
                event_ids=inv.event_ids,
            )
        )
    else:
        assert inv.workspace_id is not None
        member_id = WorkspaceMemberId.new()
        session.add(
            WorkspaceMember(
                id=member_id, workspace_id=inv.workspace_id, user_id=user_id, role=inv.role
            )
        )
    session.flush()
    return Acceptance(inv, member_id, inv.role, joined=True)


def _not_pending(session: Session, inv: Invitation, user_id: str) -> Acceptance:
    """An invitation that can no longer be accepted: the invitee who accepted it gets their
    membership again (a retried or doubled request); anyone else a refusal."""
    if inv.accepted_at is not None:
        if inv.accepted_by_user_id == user_id:
            existing = _membership(session, inv, user_id)
            if existing is not None:
                return Acceptance(inv, existing[0], existing[1], joined=False)
        raise InvitationUsed()
    if inv.revoked_at is not None:
        raise InvitationRevoked()
    raise InvitationExpired()


def _membership(session: Session, inv: Invitation, user_id: str) -> tuple[str, str] | None:
    if inv.organization_id is not None:
        row = session.execute(
            select(TeamMember.id, TeamMember.role).where(
                TeamMember.organization_id == inv.organization_id, TeamMember.user_id == user_id
            )
        ).first()
    else:
        row = session.execute(
            select(WorkspaceMember.id, WorkspaceMember.role).where(
                WorkspaceMember.workspace_id == inv.workspace_id,
                WorkspaceMember.user_id == user_id,
            )
        ).first()
    return None if row is None else (row[0], row[1])


def parse_cursor(cursor: str | None) -> Cursor:
    """The (created_at, id) position a list cursor carries; 422 `invalid_cursor` otherwise."""
    values = decode_cursor(cursor)
    if values is None:
        return None
    try:
        created, last_id = values
        position = datetime.fromisoformat(created)
    except (TypeError, ValueError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(last_id, str) or position.tzinfo is None:
        raise InvalidCursor()
    return position, last_id


def next_cursor(created_at: datetime, row_id: str) -> str:
    return encode_cursor(created_at.isoformat(), row_id)
