"""Every list of orders and passes pages with the one keyset helper: a cursor it did not
make is 422 `invalid_cursor` (never a 500), and walking the pages sees every item once."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from admitone.core.db import Database
from admitone.settings import Settings
from tests.factories import auth_headers, make_user
from tests.orders.shop import Shop, open_shop, order_body, place

FOREIGN_CURSORS = [["x", "y"], [1, 2, 3], [None, None], [1]]
ROUTES = ["/api/v1/me/orders", "/api/v1/events/{event_id}/orders", "/api/v1/me/passes"]


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.fixture
def shop(db: Database, settings: Settings) -> Shop:
    return open_shop(db, settings, max_per_order=10)


@pytest.fixture
def buyer(db: Database, settings: Settings) -> dict[str, str]:
    with db.session() as s:
        return auth_headers(s, settings, make_user(s))


def _headers(shop: Shop, buyer: dict[str, str], route: str) -> dict[str, str]:
    return shop.owner_headers if "{event_id}" in route else buyer


def _place_free_orders(client: Any, shop: Shop, buyer: dict[str, str], n: int) -> list[str]:
    """`n` free orders of the buyer, one pass each: the three lists then hold n items."""
    ids = []
    for _ in range(n):
        body = {"event_id": shop.event.id, "items": [{"tier_id": shop.free.id, "quantity": 1}]}
        r = place(client, body, headers=buyer)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("value", FOREIGN_CURSORS, ids=[json.dumps(v) for v in FOREIGN_CURSORS])
def test_a_cursor_this_api_did_not_make_is_422(client, shop, buyer, route, value) -> None:
    _place_free_orders(client, shop, buyer, 1)
    r = client.get(
        route.format(event_id=shop.event.id),
        params={"cursor": cursor_of(value)},
        headers=_headers(shop, buyer, route),
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("cursor", ["not base64!", cursor_of({"a": 1}), cursor_of("x")])
def test_garbage_cursors_are_422_too(client, shop, buyer, route, cursor) -> None:
    r = client.get(
        route.format(event_id=shop.event.id),
        params={"cursor": cursor},
        headers=_headers(shop, buyer, route),
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize("route", ROUTES)
def test_paging_walks_every_item_once(client, shop, buyer, route) -> None:
    placed = _place_free_orders(client, shop, buyer, 5)
    # an order of someone else: in the event's list, not in the buyer's
    other = place(client, order_body(shop)).json()["id"]
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        r = client.get(
            route.format(event_id=shop.event.id),
            params=params,
            headers=_headers(shop, buyer, route),
        )
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    ids = [item["order_id" if "passes" in route else "id"] for item in seen]
    expected = [*placed, other] if "{event_id}" in route else placed
    assert sorted(ids) == sorted(expected)  # each once
    if "passes" in route:
        assert len({item["id"] for item in seen}) == len(seen) == 5
    else:
        assert len(set(ids)) == len(ids)
        # newest first
        assert [i["created_at"] for i in seen] == sorted(
            (i["created_at"] for i in seen), reverse=True
        )
    assert pages == -(-len(expected) // 2)  # no empty last page
