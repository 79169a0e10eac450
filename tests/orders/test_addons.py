"""Add-on routes: organizer CRUD with `tier.manage`, public listing, stock rules."""

from __future__ import annotations

import pytest

from admitone.core.db import Database
from admitone.settings import Settings
from tests.factories import add_team_member, auth_headers, make_user
from tests.orders.shop import open_shop, order_body, place

ADDONS = "/support/v1/addons"


@pytest.fixture
def shop(db: Database, settings: Settings):  # type: ignore[no-untyped-def]
    return open_shop(db, settings)


def _new(shop, **extra):  # type: ignore[no-untyped-def]
    return {
        "event_id": shop.event.id,
        "name": "Parking",
        "price": {"amount": 150000, "currency": "NGN"},
        "capacity": 5,
        **extra,
    }


def test_organizer_creates_lists_and_updates_addons(client, shop) -> None:
    created = client.post(ADDONS, json=_new(shop, per="ticket"), headers=shop.owner_headers)
    assert created.status_code == 201, created.text
    addon = created.json()
    assert addon["id"].startswith("add_")
    assert addon["available"] == 5
    assert addon["per"] == "ticket"
    listed = client.get(ADDONS, params={"event_id": shop.event.id}).json()
    assert [a["id"] for a in listed] == [addon["id"]]
    assert client.get(f"{ADDONS}/{addon['id']}").json()["name"] == "Parking"
    patched = client.patch(
        f"{ADDONS}/{addon['id']}",
        json={"name": "VIP parking", "capacity": 8, "price": {"amount": 200000, "currency": "NGN"}},
        headers=shop.owner_headers,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["capacity"]) == ("VIP parking", 8)
    assert patched.json()["price"]["amount"] == 200000
    hidden = client.patch(
        f"{ADDONS}/{addon['id']}", json={"is_active": False}, headers=shop.owner_headers
    )
    assert hidden.json()["is_active"] is False
    assert client.get(ADDONS, params={"event_id": shop.event.id}).json() == []
    managed = client.get(
        ADDONS,
        params={"event_id": shop.event.id, "include_inactive": True},
        headers=shop.owner_headers,
    ).json()
    assert [a["id"] for a in managed] == [addon["id"]]
    assert client.get(f"{ADDONS}/{addon['id']}").json()["code"] == "addon_not_found"


def test_addon_routes_need_tier_manage(client, db, settings, shop) -> None:
    assert client.post(ADDONS, json=_new(shop)).status_code == 401
    with db.session() as s:
        viewer = make_user(s)
        add_team_member(s, shop.org, viewer, "viewer")
        viewer_headers = auth_headers(s, settings, viewer)
        stranger_headers = auth_headers(s, settings, make_user(s))
    denied = client.post(ADDONS, json=_new(shop), headers=viewer_headers)
    assert denied.status_code == 403
    assert denied.json()["capability"] == "tier.manage"
    assert client.post(ADDONS, json=_new(shop), headers=stranger_headers).status_code == 404
    addon = client.post(ADDONS, json=_new(shop), headers=shop.owner_headers).json()
    assert (
        client.patch(
            f"{ADDONS}/{addon['id']}", json={"name": "x"}, headers=viewer_headers
        ).status_code
        == 403
    )


def test_addon_capacity_cannot_drop_below_what_is_held(client, shop) -> None:
    addon = client.post(ADDONS, json=_new(shop, max_per_order=3), headers=shop.owner_headers).json()
    order = order_body(shop) | {"addons": [{"addon_id": addon["id"], "quantity": 3}]}
    assert place(client, order).status_code == 201
    low = client.patch(f"{ADDONS}/{addon['id']}", json={"capacity": 2}, headers=shop.owner_headers)
    assert low.status_code == 409
    assert low.json()["code"] == "capacity_below_sold"
    ok = client.patch(f"{ADDONS}/{addon['id']}", json={"capacity": 3}, headers=shop.owner_headers)
    assert ok.json()["available"] == 0


def test_bad_addon_inputs_are_problems(client, shop) -> None:
    cases = [
        (_new(shop, price={"amount": -1, "currency": "NGN"}), 422, "validation_error"),
        (_new(shop, price={"amount": 1, "currency": "ngn"}), 422, "validation_error"),
        (_new(shop, per="person"), 422, "validation_error"),
        (_new(shop, capacity=-1), 422, "validation_error"),
        (_new(shop, event_id="ord_" + "0" * 26), 422, "validation_error"),
        (_new(shop, price={"amount": 100, "currency": "USD"}), 422, "mixed_currencies"),
        (_new(shop, event_id="evt_" + "0" * 26), 404, "not_found"),
    ]
    for body, status, code in cases:
        resp = client.post(ADDONS, json=body, headers=shop.owner_headers)
        assert resp.status_code == status, (body, resp.text)
        assert resp.json()["code"] == code
    assert client.get(ADDONS, params={"event_id": "nope"}).status_code == 422
    assert client.get(f"{ADDONS}/add_{'0' * 26}").json()["code"] == "addon_not_found"


@pytest.mark.parametrize("position", [-1, 10_001, 10**40])
def test_addon_position_out_of_range_is_a_422_not_a_database_overflow(
    client, shop, position
) -> None:
    created = client.post(ADDONS, json=_new(shop, position=position), headers=shop.owner_headers)
    assert created.status_code == 422, created.text
    assert created.json()["code"] == "validation_error"
    ok = client.post(ADDONS, json=_new(shop), headers=shop.owner_headers).json()
    patched = client.patch(
        f"{ADDONS}/{ok['id']}", json={"position": position}, headers=shop.owner_headers
    )
    assert patched.status_code == 422, patched.text
