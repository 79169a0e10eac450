"""A small shop for order and payment tests: an organizer, a published event, tiers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admitone.core.db import Database
from admitone.events.models import Event, TicketTier
from admitone.orders.models import Order, OrderHistory
from admitone.orgs.models import Organization
from admitone.settings import Settings
from admitone.users.models import User
from tests.factories import auth_headers, make_event, make_organization, make_tier, make_user


@dataclass
class Shop:
    owner: User
    owner_headers: dict[str, str]
    org: Organization
    event: Event
    tier: TicketTier
    free: TicketTier


def open_shop(db: Database, settings: Settings, **tier: Any) -> Shop:
    with db.session() as s:
        owner = make_user(s)
        headers = auth_headers(s, settings, owner)
        org = make_organization(s, owner)
        event = make_event(s, org, reservation_minutes=15, currency="NGN")
        paid = make_tier(s, event, **{"capacity": 10, "max_per_order": 6, **tier})
        free = make_tier(s, event, name="Free", price_amount=0, capacity=10)
    return Shop(owner, headers, org, event, paid, free)


def order_body(shop: Shop, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": shop.event.id,
        "items": [{"tier_id": shop.tier.id, "quantity": quantity}],
        "buyer": {"email": "ada@example.com", "name": "Ada Obi"},
        **extra,
    }


def place(client: TestClient, body: dict[str, Any], **kw: Any) -> Any:
    return client.post("/api/v1/orders", json=body, **kw)


def tier_counts(db: Database, tier_id: str) -> tuple[int, int]:
    def _read(s: Session) -> tuple[int, int]:
        t = s.get(TicketTier, tier_id)
        assert t is not None
        return t.held_count, t.sold_count

    return db.query(_read)


def order_count(db: Database) -> int:
    return db.query(lambda s: s.scalar(select(func.count()).select_from(Order)) or 0)


def history(db: Database, order_id: str) -> list[str]:
    return db.query(
        lambda s: list(
            s.scalars(
                select(OrderHistory.action)
                .where(OrderHistory.order_id == order_id)
                .order_by(OrderHistory.created_at, OrderHistory.id)
            )
        )
    )
