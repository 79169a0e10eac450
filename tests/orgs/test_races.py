"""Membership invariants under concurrency (PostgreSQL, real commits, threads)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admitone.access import service as access
from admitone.access.models import PlatformRole
from admitone.core.db import Database
from admitone.core.errors import AppError
from admitone.orgs import invitations
from admitone.orgs import membership as orgs
from admitone.orgs.models import Invitation, TeamMember
from admitone.settings import Settings
from tests.access.helpers import invitation_token
from tests.factories import add_team_member, grant_platform_role, make_organization, make_user

pytestmark = pytest.mark.postgres


def _race(db: Database, *fns: Callable[[Session], Any]) -> list[Any]:
    """Runs each function in its own mutation at the same moment; returns results or the
    domain errors they raised."""
    barrier = threading.Barrier(len(fns))
    results: list[Any] = [None] * len(fns)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = db.mutation(fns[i])
        except AppError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def _remover(org_id: str, member_id: str) -> Callable[[Session], str]:
    def remove(session: Session) -> str:
        orgs.remove_team_member(session, orgs.locked_team_member(session, org_id, member_id))
        return "removed"

    return remove


def _demoter(org_id: str, member_id: str) -> Callable[[Session], str]:
    def demote(session: Session) -> str:
        member = orgs.locked_team_member(session, org_id, member_id)
        orgs.change_team_member(session, member, {"role": "viewer"})
        return "demoted"

    return demote


@pytest.mark.parametrize("rounds", [range(10)])
def test_two_owners_removing_each_other_at_once_leave_one_owner(
    committed_db: Database, rounds: range
) -> None:
    for _ in rounds:
        with committed_db.session() as s:
            org = make_organization(s, make_user(s))
            first = s.scalar(select(TeamMember.id).where(TeamMember.organization_id == org.id))
            second = add_team_member(s, org, make_user(s), "owner").id
        assert first is not None
        results = _race(committed_db, _remover(org.id, first), _demoter(org.id, second))
        assert sorted(type(r).__name__ for r in results) == ["LastOwner", "str"], results
        with committed_db.session() as s:
            owners = s.scalar(
                select(func.count()).where(
                    TeamMember.organization_id == org.id, TeamMember.role == "owner"
                )
            )
        assert owners == 1


def test_one_invitation_accepted_twice_at_once_adds_one_member(
    committed_db: Database, settings: Settings
) -> None:
    with committed_db.session() as s:
        owner = make_user(s)
        org = make_organization(s, owner)
        invitee = make_user(s, email="racer@example.com")
        invitations.invite(
            s,
            inviter_id=owner.id,
            email="racer@example.com",
            role="viewer",
            settings=settings,
            organization_id=org.id,
        )
    with committed_db.session() as s:
        token = invitation_token(s, settings, "racer@example.com")

    def accept(session: Session) -> bool:
        return invitations.accept_invitation(session, token, invitee.id).joined

    results = _race(committed_db, accept, accept, accept)
    # one joins; the others find it accepted by the same invitee and answer the membership
    assert sorted(map(str, results)) == ["False", "False", "True"]
    with committed_db.session() as s:
        members = s.scalar(
            select(func.count()).where(
                TeamMember.organization_id == org.id, TeamMember.user_id == invitee.id
            )
        )
    assert members == 1


def test_two_superadmins_revoking_each_other_at_once_leave_one(committed_db: Database) -> None:
    with committed_db.session() as s:
        a = grant_platform_role(s, make_user(s), "superadmin")
        b = grant_platform_role(s, make_user(s), "superadmin")

    def revoke(actor: str, role_id: str) -> Callable[[Session], str]:
        def run(session: Session) -> str:
            access.revoke_platform_role(session, actor_user_id=actor, role_id=role_id)
            return "revoked"

        return run

    results = _race(committed_db, revoke(a.user_id, b.id), revoke(b.user_id, a.id))
    assert sorted(type(r).__name__ for r in results) == ["LastSuperadmin", "str"], results
    with committed_db.session() as s:
        left = s.scalar(select(func.count()).where(PlatformRole.role == "superadmin"))
    assert left == 1


def test_one_address_invited_twice_at_once_gets_one_invitation(
    committed_db: Database, settings: Settings
) -> None:
    with committed_db.session() as s:
        owner = make_user(s)
        org = make_organization(s, owner)

    def invite(session: Session) -> str:
        return invitations.invite(
            session,
            inviter_id=owner.id,
            email="dup@example.com",
            role="viewer",
            settings=settings,
            organization_id=org.id,
        ).id

    results = _race(committed_db, invite, invite, invite)
    refused = [r for r in results if isinstance(r, AppError)]
    assert [type(r).__name__ for r in refused] == ["InvitationPending"] * 2, results
    with committed_db.session() as s:
        count = s.scalar(select(func.count()).where(Invitation.organization_id == org.id))
    assert count == 1


def test_one_platform_role_granted_twice_at_once_is_granted_once(committed_db: Database) -> None:
    with committed_db.session() as s:
        target = make_user(s)

    def grant(session: Session) -> str:
        row, _ = access.grant_platform_role(
            session, actor_user_id=None, role="support", user_id=target.id
        )
        return row.id

    results = _race(committed_db, grant, grant)
    refused = [r for r in results if isinstance(r, AppError)]
    assert [type(r).__name__ for r in refused] == ["RoleAlreadyGranted"], results
    with committed_db.session() as s:
        held = s.scalar(select(func.count()).where(PlatformRole.user_id == target.id))
    assert held == 1
