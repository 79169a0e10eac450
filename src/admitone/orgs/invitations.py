"""Invitations by e-mail to a team or a workspace: invite, resend, revoke, accept.

The token is 32 random bytes, stored only as its SHA-256 and e-mailed (sealed in the job
row) inside the caller's transaction. Acceptance is one conditional UPDATE on "still
pending and not expired", so a token works once even when two accepts race; creating an
invitation and joining happen under the target's row lock (see `orgs.membership`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, select, update
from sqlalchemy.orm import Session

from admitone.core import outbox
from admitone.core.clock import utcnow
from admitone.core.errors import RateLimited
from admitone.core.ids import InvitationId, TeamMemberId, WorkspaceMemberId
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
)
from admitone.orgs.membership import (
    Page,
    get_organization,
    get_workspace,
    lock_organization,
    lock_workspace,
    normalize_email,
    oldest_first,
)
from admitone.orgs.models import Invitation, TeamMember, WorkspaceMember
from admitone.settings import Settings
from admitone.users.models import User

INVITATION_TTL = timedelta(days=7)
INVITATIONS = oldest_first(Invitation, InvitationId)
RESEND_INTERVAL = timedelta(minutes=1)


def hash_token(token: str) -> str:
    """Invitation tokens are 32 random bytes, so one SHA-256 is enough to store them: a
    leaked table does not yield working links, and lookup by hash needs no comparison."""
    return hashlib.sha256(token.encode()).hexdigest()


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
        member_of: Select[Any] = select(TeamMember.id).where(
            TeamMember.organization_id == organization_id
        )
        member_of = member_of.join(User, User.id == TeamMember.user_id)
        pending_for = Invitation.organization_id == organization_id
    else:
        assert workspace_id is not None
        target_name = lock_workspace(session, workspace_id).name
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
    # An account with that address also sees it in its inbox (no account: the mail only).
    outbox.notify(
        session,
        "invitation",
        emails=[inv.email],
        data={"invitation_id": inv.id, "organization_name": target_name, "role": inv.role},
    )
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
    cursor: str | None,
) -> Page:
    target = (
        Invitation.organization_id == organization_id
        if organization_id is not None
        else Invitation.workspace_id == workspace_id
    )
    return INVITATIONS.page(session, select(Invitation).where(target), limit=limit, cursor=cursor)


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
        lock_workspace(session, inv.workspace_id)
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
    row: Any
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


def describe_invitation(session: Session, token: str) -> dict[str, Any]:
    """What an invitation link's page shows before accepting: who invites whom to what, with
    which role, and whether it can still be accepted. 404 for an unknown token."""
    inv = session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    if inv is None:
        raise InvitationNotFound()
    inviter = session.get(User, inv.invited_by_user_id)
    return {
        **invitation_view(inv),
        "kind": "team" if inv.organization_id else "workspace",
        "target_name": _target_name(session, inv),
        "inviter_name": (inviter.name or inviter.email) if inviter else None,
        "expires_at": inv.expires_at,
    }
