"""`checkout.place_order` is callable as a page would call it (no request): it answers the
same representation as `POST /api/v1/orders`, with the provider's checkout URL."""

from __future__ import annotations

import anyio
import pytest
from sqlalchemy import select

from admitone import checkout
from admitone.auth.deps import Actor
from admitone.core.db import Database
from admitone.core.ids import AuthSessionId
from admitone.orders.errors import TierSoldOut
from admitone.orders.models import Order
from admitone.orders.schemas import OrderIn
from admitone.settings import Settings
from tests.factories import make_user
from tests.orders.shop import Shop, open_shop, order_body, tier_counts


@pytest.fixture
def shop(db: Database, settings: Settings) -> Shop:
    return open_shop(db, settings, capacity=3)


def place(db: Database, settings: Settings, body: OrderIn, actor: Actor | None, **kw):  # type: ignore[no-untyped-def]
    async def _run() -> checkout.Outcome:
        return await checkout.place_order(db, settings, body, actor, **kw)

    return anyio.run(_run)


def test_a_page_places_an_order_and_gets_the_checkout_url(db, settings, shop, client) -> None:
    with db.session() as s:
        user = make_user(s, email="page@example.com", name="Page Buyer")
    actor = Actor(user.id, AuthSessionId.new())
    body = OrderIn.model_validate(
        {"event_id": shop.event.id, "items": [{"tier_id": shop.tier.id, "quantity": 2}]}
    )
    outcome = place(db, settings, body, actor, idempotency_key="page-1", client_ip="192.0.2.1")
    assert outcome.status == 201
    assert not outcome.is_problem
    assert not outcome.replayed
    order = outcome.body
    assert order["status"] == "pending"
    assert order["buyer"] == {"email": "page@example.com", "name": "Page Buyer", "user_id": user.id}
    assert order["payment"]["checkout_url"].endswith(
        f"/support/v1/payments/dev/{order['payment']['reference']}"
    )
    assert tier_counts(db, shop.tier.id) == (2, 0)
    # the API reads back the same order the page got
    api = client.get(f"/api/v1/orders/{order['id']}", params={"token": order["order_token"]})
    assert api.json()["payment"]["checkout_url"] == order["payment"]["checkout_url"]
    # the same key and body: the first answer again, nothing new written
    again = place(db, settings, body, actor, idempotency_key="page-1")
    assert again.replayed
    assert again.body == order
    assert db.query(lambda s: len(s.scalars(select(Order.id)).all())) == 1


def test_refusals_raise_the_domain_errors(db, settings, shop) -> None:
    body = OrderIn.model_validate(order_body(shop, 3))
    place(db, settings, body, None)
    with pytest.raises(TierSoldOut):
        place(db, settings, OrderIn.model_validate(order_body(shop, 1)), None)
    assert tier_counts(db, shop.tier.id) == (3, 0)
