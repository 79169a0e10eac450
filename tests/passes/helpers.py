"""Test helpers shared by the passes and check-in tests."""

from __future__ import annotations

from sqlalchemy.orm import Session

from admitone.core.ids import TeamMemberId
from admitone.orgs.models import Organization, TeamMember
from admitone.users.models import User


def add_role(
    session: Session, org: Organization, user: User, role: str, event_ids: list[str] | None = None
) -> TeamMember:
    """A team role. Unlike `add_team_member`, an unlimited role leaves `event_ids` unset (SQL
    NULL): an explicit None is stored as JSON `null`, which capability resolution reads back
    as the text 'null' and then grants nothing (reported to the access owner)."""
    member = TeamMember(id=TeamMemberId.new(), organization_id=org.id, user_id=user.id, role=role)
    if event_ids is not None:
        member.event_ids = event_ids  # type: ignore[assignment]
    session.add(member)
    session.flush()
    return member
