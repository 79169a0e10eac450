"""Events a member may act on (the door and manage pages' choices)."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, grant_for
from admitone.events.models import Event
from admitone.orgs.models import Organization, TeamMember, WorkspaceMember


def events_with_capability(
    session: Session, user_id: str, capability: Capability, *, limit: int = 50
) -> list[Event]:
    """Events (not cancelled, not ended) of the organizations the user is a team or
    workspace member of where they hold `capability` (for the door and manage pages),
    soonest first; each checked with `grant_for`, the rule every route uses."""
    team_orgs = select(TeamMember.organization_id).where(TeamMember.user_id == user_id)
    ws_orgs = select(Organization.id).where(
        Organization.workspace_id.in_(
            select(WorkspaceMember.workspace_id).where(WorkspaceMember.user_id == user_id)
        )
    )
    candidates = session.scalars(
        select(Event)
        .where(
            or_(Event.organization_id.in_(team_orgs), Event.organization_id.in_(ws_orgs)),
            Event.status.in_(("draft", "published")),
        )
        .order_by(Event.starts_at, Event.id)
        .limit(limit * 4)
    ).all()
    found = [
        e
        for e in candidates
        if capability in grant_for(session, user_id, Scope.event(e.id)).capabilities
    ]
    return found[:limit]
