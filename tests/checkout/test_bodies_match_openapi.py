"""The bodies built by hand (the hot `POST /api/v1/orders`, whose body is also the stored
idempotent response, and the refund) match the schema the OpenAPI document declares for
them: each real body is validated with `jsonschema` against `/openapi.json`."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from admitone.core.db import Database
from admitone.settings import Settings
from tests.factories import make_addon
from tests.orders.shop import Shop, open_shop, order_body, place


@pytest.fixture
def shop(db: Database, settings: Settings) -> Shop:
    return open_shop(db, settings)


def validator(client: Any, path: str, method: str, status: str) -> Draft202012Validator:
    """The validator of one operation's declared JSON response, `$ref`s resolved against
    the whole document."""
    doc = client.get("/openapi.json").json()
    schema = doc["paths"][path][method]["responses"][status]["content"]["application/json"][
        "schema"
    ]
    return Draft202012Validator({**schema, "components": doc["components"]})


def check(v: Draft202012Validator, body: dict[str, Any]) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(body)]
    assert errors == []


def test_placed_order_bodies_match_the_declared_schema(client, db, shop, run_jobs) -> None:
    v = validator(client, "/api/v1/orders", "post", "201")
    with db.session() as s:
        addon = make_addon(s, shop.event, price_amount=50_000, capacity=5)
    pending = place(
        client,
        order_body(
            shop,
            2,
            addons=[{"addon_id": addon.id, "quantity": 1}],
            referral_code="friend-01",
            attendees=[{"name": "A"}, {"name": "B", "email": "b@example.com"}],
        ),
        headers={"Idempotency-Key": "k-1"},
    )
    assert pending.status_code == 201, pending.text
    assert pending.json()["payment"]["checkout_url"]
    check(v, pending.json())
    replay = place(
        client,
        order_body(
            shop,
            2,
            addons=[{"addon_id": addon.id, "quantity": 1}],
            referral_code="friend-01",
            attendees=[{"name": "A"}, {"name": "B", "email": "b@example.com"}],
        ),
        headers={"Idempotency-Key": "k-1"},
    )
    assert replay.json() == pending.json()
    check(v, replay.json())
    free = place(
        client,
        {
            "event_id": shop.event.id,
            "items": [{"tier_id": shop.free.id, "quantity": 2}],
            "buyer": {"email": "free@example.com"},
        },
    )
    assert free.status_code == 201, free.text
    assert free.json()["status"] == "paid"
    assert len(free.json()["passes"]) == 2
    check(v, free.json())


def test_the_check_fails_on_a_body_that_breaks_the_schema(client, shop) -> None:
    v = validator(client, "/api/v1/orders", "post", "201")
    body = place(client, order_body(shop)).json()
    for broken in (
        {k: val for k, val in body.items() if k != "total"},
        {**body, "status": "lost"},
        {**body, "payment": {**body["payment"], "status": "maybe"}},
    ):
        with pytest.raises(ValidationError):
            v.validate(broken)


def test_refund_bodies_match_the_declared_schema(client, db, shop) -> None:
    v = validator(client, "/api/v1/orders/{order_id}/refunds", "post", "201")
    free = place(
        client,
        {
            "event_id": shop.event.id,
            "items": [{"tier_id": shop.free.id, "quantity": 2}],
            "buyer": {"email": "free@example.com"},
        },
    ).json()
    item = free["items"][0]["id"]
    r = client.post(
        f"/api/v1/orders/{free['id']}/refunds",
        json={"items": [{"order_item_id": item, "quantity": 1}]},
        headers=shop.owner_headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["order"]["status"] == "partially_refunded"
    check(v, r.json())
