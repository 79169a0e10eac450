"""An order keeps the referral code the buyer came with (the DP domain's stats read it)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admitone.core.db import Database
from admitone.orders.models import Order
from admitone.settings import Settings
from tests.orders.shop import open_shop, order_body, order_count, place


@pytest.fixture
def shop(db: Database, settings: Settings):  # type: ignore[no-untyped-def]
    return open_shop(db, settings)


def stored_code(db: Database, order_id: str) -> str | None:
    return db.query(lambda s: s.scalar(select(Order.referral_code).where(Order.id == order_id)))


@pytest.mark.parametrize("code", ["abcd", "Ada_2026-x", "A" * 32])
def test_referral_code_is_stored_and_returned(client, db, shop, code) -> None:
    r = place(client, order_body(shop, referral_code=code))
    assert r.status_code == 201, r.text
    assert r.json()["referral_code"] == code
    assert stored_code(db, r.json()["id"]) == code
    again = client.get(r.headers["Location"], headers={"X-Order-Token": r.json()["order_token"]})
    assert again.json()["referral_code"] == code


def test_no_referral_code_is_null(client, db, shop) -> None:
    r = place(client, order_body(shop))
    assert r.status_code == 201, r.text
    assert r.json()["referral_code"] is None
    assert stored_code(db, r.json()["id"]) is None


@pytest.mark.parametrize(
    "code", ["abc", "A" * 33, "has space", "emoji😀x", "semi;colon", "", 1234, ["abcd"]]
)
def test_malformed_referral_code_is_422_and_places_nothing(client, db, shop, code) -> None:
    r = place(client, order_body(shop, referral_code=code))
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"
    assert order_count(db) == 0
