"""Typed factories for tests: rows with sensible defaults, overridable by keyword."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from admitone.access.models import PlatformRole
from admitone.auth.models import AuthSession
from admitone.auth.tokens import issue_access_token
from admitone.core.clock import utcnow
from admitone.core.ids import (
    AuthSessionId,
    EventId,
    EventSessionId,
    OrderId,
    OrderItemId,
    OrganizationId,
    PassId,
    PlatformRoleId,
    TeamMemberId,
    TicketTierId,
    UserId,
    WorkspaceId,
    WorkspaceMemberId,
)
from admitone.events.models import Event, EventSession, TicketTier
from admitone.orders.models import Order, OrderItem
from admitone.orgs.models import Organization, TeamMember, Workspace, WorkspaceMember
from admitone.passes.codes import new_code
from admitone.passes.models import Pass
from admitone.settings import Settings
from admitone.users.models import User


def make_user(session: Session, **overrides: Any) -> User:
    uid = UserId.new()
    values: dict[str, Any] = {
        "id": uid,
        "email": f"{uid.lower()}@example.com",
        "email_verified_at": utcnow(),
        "name": "Test User",
    }
    user = User(**{**values, **overrides})
    session.add(user)
    session.flush()
    return user


def auth_headers(session: Session, settings: Settings, user: User) -> dict[str, str]:
    """A real signed access token for `user`, through a real sign-in session row."""
    sid = AuthSessionId.new()
    session.add(AuthSession(id=sid, user_id=user.id, method="otp"))
    session.flush()
    token, _ = issue_access_token(settings, user.id, sid)
    return {"Authorization": f"Bearer {token}"}


def make_workspace(session: Session, owner: User, **overrides: Any) -> Workspace:
    ws = Workspace(
        **{
            "id": WorkspaceId.new(),
            "name": "Test Workspace",
            "created_by_user_id": owner.id,
            **overrides,
        }
    )
    session.add(ws)
    session.flush()
    session.add(
        WorkspaceMember(
            id=WorkspaceMemberId.new(), workspace_id=ws.id, user_id=owner.id, role="owner"
        )
    )
    session.flush()
    return ws


def make_organization(session: Session, owner: User, **overrides: Any) -> Organization:
    """An organization in a new workspace owned by `owner`, who is also its team owner."""
    ws = make_workspace(session, owner)
    oid = OrganizationId.new()
    org = Organization(
        **{
            "id": oid,
            "workspace_id": ws.id,
            "name": "Test Org",
            "slug": f"org-{oid[-8:].lower()}",
            **overrides,
        }
    )
    session.add(org)
    session.flush()
    add_team_member(session, org, owner, "owner")
    return org


def add_team_member(
    session: Session, org: Organization, user: User, role: str, event_ids: list[str] | None = None
) -> TeamMember:
    member = TeamMember(
        id=TeamMemberId.new(),
        organization_id=org.id,
        user_id=user.id,
        role=role,
        event_ids=event_ids,
    )
    session.add(member)
    session.flush()
    return member


def grant_platform_role(session: Session, user: User, role: str) -> PlatformRole:
    row = PlatformRole(id=PlatformRoleId.new(), user_id=user.id, role=role)
    session.add(row)
    session.flush()
    return row


def make_event(session: Session, org: Organization, **overrides: Any) -> Event:
    eid = EventId.new()
    starts = utcnow() + timedelta(days=30)
    values: dict[str, Any] = {
        "id": eid,
        "organization_id": org.id,
        "slug": f"evt-{eid[-10:].lower()}",
        "title": "Test Event",
        "timezone": "Africa/Lagos",
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=4),
        "status": "published",
    }
    event = Event(**{**values, **overrides})
    session.add(event)
    session.flush()
    return event


def make_tier(session: Session, event: Event, **overrides: Any) -> TicketTier:
    values: dict[str, Any] = {
        "id": TicketTierId.new(),
        "event_id": event.id,
        "name": "Regular",
        "price_amount": 500000,
        "currency": "NGN",
        "capacity": 100,
    }
    tier = TicketTier(**{**values, **overrides})
    session.add(tier)
    session.flush()
    return tier


def make_session(session: Session, event: Event, **overrides: Any) -> EventSession:
    """An agenda session in the first hour of `event`."""
    values: dict[str, Any] = {
        "id": EventSessionId.new(),
        "event_id": event.id,
        "title": "Opening set",
        "starts_at": event.starts_at,
        "ends_at": event.starts_at + timedelta(hours=1),
    }
    slot = EventSession(**{**values, **overrides})
    session.add(slot)
    session.flush()
    return slot


def make_order(
    session: Session, event: Event, tier: TicketTier, quantity: int = 1, **overrides: Any
) -> tuple[Order, OrderItem]:
    """A paid order of `quantity` seats of `tier`, inserted directly (no stock counters)."""
    oid = OrderId.new()
    values: dict[str, Any] = {
        "id": oid,
        "event_id": event.id,
        "buyer_email": f"{oid.lower()}@example.com",
        "buyer_name": "Test Buyer",
        "status": "paid",
        "total_amount": tier.price_amount * quantity,
        "currency": tier.currency,
        "paid_at": utcnow(),
    }
    order = Order(**{**values, **overrides})
    session.add(order)
    session.flush()
    item = OrderItem(
        id=OrderItemId.new(),
        order_id=order.id,
        tier_id=tier.id,
        quantity=quantity,
        unit_amount=tier.price_amount,
        currency=tier.currency,
    )
    session.add(item)
    session.flush()
    return order, item


def make_pass(session: Session, event: Event, tier: TicketTier, **overrides: Any) -> Pass:
    """A valid pass in a new paid order of its own, inserted directly."""
    order_overrides = overrides.pop("order_overrides", {})
    order, item = make_order(session, event, tier, **order_overrides)
    pid = PassId.new()
    values: dict[str, Any] = {
        "id": pid,
        "event_id": event.id,
        "order_id": order.id,
        "order_item_id": item.id,
        "tier_id": tier.id,
        "code": new_code(),
        "attendee_name": "Ada Obi",
        "attendee_email": f"{pid.lower()}@example.com",
        "status": "valid",
    }
    p = Pass(**{**values, **overrides})
    session.add(p)
    session.flush()
    return p


def make_addon(session: Session, event: Event, **overrides: Any) -> Any:
    """An active add-on of `event` (orders domain), sold once per order by default."""
    from admitone.core.ids import AddonId
    from admitone.orders.models import Addon

    values: dict[str, Any] = {
        "id": AddonId.new(),
        "event_id": event.id,
        "name": "Parking",
        "price_amount": 100000,
        "currency": "NGN",
        "capacity": 50,
        "per": "order",
        "max_per_order": 2,
    }
    addon = Addon(**{**values, **overrides})
    session.add(addon)
    session.flush()
    return addon


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), **save: Any) -> bytes:
    """A real image made by Pillow: a gradient, so encoders have something to compress."""
    import io

    from PIL import Image

    mode = "RGBA" if fmt in ("PNG", "WEBP") and save.pop("alpha", False) else "RGB"
    image = Image.linear_gradient("L").resize(size).convert(mode)
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def make_cover(session: Session, settings: Settings, event: Event) -> Any:
    """A stored cover image for `event`: the blob in the settings' storage, its `files` row,
    and `event.cover_file_id` pointing at it (as `PUT /events/{id}/cover` leaves them)."""
    import hashlib

    from sqlalchemy import update

    from admitone.core.files import File
    from admitone.core.ids import FileId
    from admitone.integrations.storage import storage_for

    data = image_bytes()
    fid = FileId.new()
    key = f"covers/{event.id}/{fid}.jpg"
    storage_for(settings).put(key, data, "image/jpeg")
    row = File(
        id=fid,
        storage_key=key,
        content_type="image/jpeg",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    session.add(row)
    session.flush()
    # A statement, not the attribute alone: `event` may belong to another (closed) session.
    session.execute(update(Event).where(Event.id == event.id).values(cover_file_id=fid))
    event.cover_file_id = fid
    session.flush()
    return row
