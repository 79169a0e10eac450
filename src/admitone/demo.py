"""A small demo for `make run`: an organizer, their organization and a published event with a
free and a paid tier. Seeded once; running it again changes nothing."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.ids import (
    OrganizationId,
    TeamMemberId,
    UserId,
    WorkspaceId,
    WorkspaceMemberId,
)
from admitone.dp import demo as dp_demo
from admitone.events import service as events
from admitone.events.models import Event
from admitone.events.schemas import EventCreate, Money, TierCreate, Venue
from admitone.orgs.models import Organization, TeamMember, Workspace, WorkspaceMember
from admitone.users.models import User

DEMO_EMAIL = "demo@example.com"
DOOR_EMAIL = "door@example.com"
DEMO_ORG_SLUG = "admit-one-demo"
DEMO_TIMEZONE = "Africa/Lagos"
DEMO_DESCRIPTION = (
    "An evening of live music and conversation to try Admit One end to end: pick a free "
    "or a paid ticket, pay through the built-in dev provider, and get your pass by e-mail "
    "(read it at /dev/mailbox). Doors open 30 minutes before the start."
)


def _organizer(session: Session) -> tuple[User, Organization]:
    """The demo user and organization, created if missing (each step looks before it adds,
    so a half-finished earlier run is completed rather than duplicated)."""
    now = utcnow()
    user = session.scalar(select(User).where(User.email == DEMO_EMAIL))
    if user is None:
        user = User(id=UserId.new(), email=DEMO_EMAIL, email_verified_at=now, name="Demo Organizer")
        session.add(user)
        session.flush()
    org = session.scalar(select(Organization).where(Organization.slug == DEMO_ORG_SLUG))
    if org is None:
        workspace = Workspace(
            id=WorkspaceId.new(), name="Demo Workspace", created_by_user_id=user.id
        )
        session.add(workspace)
        session.flush()
        session.add(
            WorkspaceMember(
                id=WorkspaceMemberId.new(), workspace_id=workspace.id, user_id=user.id, role="owner"
            )
        )
        org = Organization(
            id=OrganizationId.new(),
            workspace_id=workspace.id,
            name="Admit One Demo",
            slug=DEMO_ORG_SLUG,
        )
        session.add(org)
        session.flush()
    owner = session.scalar(
        select(TeamMember.id).where(
            TeamMember.organization_id == org.id, TeamMember.user_id == user.id
        )
    )
    if owner is None:  # also a demo seeded under an earlier demo address
        session.add(
            TeamMember(
                id=TeamMemberId.new(),
                organization_id=org.id,
                user_id=user.id,
                role="owner",
                event_ids=None,
            )
        )
        session.flush()
    return user, org


def _door_staff(session: Session, org: Organization) -> None:
    """The demo's door-staff account (team role `door_staff`), added if missing."""
    user = session.scalar(select(User).where(User.email == DOOR_EMAIL))
    if user is None:
        user = User(
            id=UserId.new(), email=DOOR_EMAIL, email_verified_at=utcnow(), name="Demo Door Staff"
        )
        session.add(user)
        session.flush()
    member = session.scalar(
        select(TeamMember.id).where(
            TeamMember.organization_id == org.id, TeamMember.user_id == user.id
        )
    )
    if member is None:
        session.add(
            TeamMember(
                id=TeamMemberId.new(),
                organization_id=org.id,
                user_id=user.id,
                role="door_staff",
                event_ids=None,
            )
        )
        session.flush()


def _seed(session: Session, secret: bytes) -> tuple[str, bool]:
    """(the event's slug, whether anything was created)."""
    user, org = _organizer(session)
    _door_staff(session, org)
    existing = session.scalar(
        select(Event).where(Event.organization_id == org.id).order_by(Event.created_at)
    )
    if existing is not None:
        return existing.slug, False
    zone = ZoneInfo(DEMO_TIMEZONE)
    day = (utcnow() + timedelta(weeks=3)).astimezone(zone).date()
    starts_at = datetime.combine(day, time(18, 0), tzinfo=zone)
    event = events.create_event(
        session,
        user.id,
        org.id,
        EventCreate(
            title="Admit One Demo Night",
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=4),
            timezone=DEMO_TIMEZONE,
            description=DEMO_DESCRIPTION,
            venue=Venue(name="Demo Hall", address="1 Admiralty Way, Lekki, Lagos"),
        ),
    )
    events.add_tier(
        session,
        user.id,
        event.id,
        TierCreate(
            name="Free entry",
            price=Money(amount=0, currency="NGN"),
            capacity=200,
            max_per_order=4,
        ),
        secret,
    )
    events.add_tier(
        session,
        user.id,
        event.id,
        TierCreate(
            name="VIP",
            price=Money(amount=1_500_000, currency="NGN"),  # NGN 15,000.00
            capacity=50,
            max_per_order=4,
            position=1,
        ),
        secret,
    )
    events.publish_event(session, user.id, event.id)
    return event.slug, True


def seed(db: Database, settings: Any) -> str:
    """Seeds the demo (idempotent); `settings` is the app's `Settings`."""
    slug, created = db.mutation(_seed, settings.secret)
    dp_page = dp_demo.seed(db, settings, slug)
    base = settings.base_url.rstrip("/")
    state = "seeded" if created else "already seeded"
    return "\n".join(
        [
            f"demo {state}: organizer {DEMO_EMAIL}, door staff {DOOR_EMAIL}"
            " (sign in with the e-mailed code)",
            f"  event page    {base}/events/{slug}",
            f"  DP studio     {dp_page}",
            f"  door scanner  {base}/door",
            f"  organizer     {base}/manage",
            f"  dev mailbox   {base}/dev/mailbox",
            f"  API docs      {base}/docs  (event JSON: {base}/api/v1/public/events/{slug})",
        ]
    )
