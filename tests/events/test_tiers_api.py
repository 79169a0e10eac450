"""Ticket tiers and agenda sessions: prices, capacity, windows, limits, hidden tiers."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from admitone.core.db import Database
from admitone.events.models import Event, TicketTier
from admitone.events.service import hash_access_code
from admitone.settings import Settings
from tests.events.conftest import Organizer, create_event, create_tier, tier_body


def _tiers_url(event: dict) -> str:  # type: ignore[type-arg]
    return f"/api/v1/events/{event['id']}/tiers"


def _set_counts(db: Database, tier_id: str, held: int, sold: int) -> None:
    """Stands in for the orders domain: seats held and sold as its updates leave them."""
    db.mutation(
        lambda s: s.execute(
            update(TicketTier)
            .where(TicketTier.id == tier_id)
            .values(held_count=held, sold_count=sold)
        )
    )


def test_minimal_tier_has_price_capacity_and_defaults(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    tier = create_tier(client, organizer, event["id"])
    assert tier["id"].startswith("tir_")
    assert tier["price"] == {"amount": 500_000, "currency": "NGN"}
    assert tier["capacity"] == 100
    assert tier["available"] == 100
    assert (tier["held_count"], tier["sold_count"]) == (0, 0)
    assert (tier["min_per_order"], tier["max_per_order"]) == (1, 10)
    assert tier["is_hidden"] is False
    assert tier["has_access_code"] is False
    assert tier["session_ids"] == []
    got = client.get(f"/api/v1/events/{event['id']}", headers=organizer.headers).json()
    assert got["currency"] == "NGN"


def test_unknown_currency_is_refused_with_its_code(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    for currency in ("XYZ", "NAIRA", "XAU", "", "12"):
        resp = client.post(
            _tiers_url(event),
            json=tier_body(price={"amount": 100, "currency": currency}),
            headers=organizer.headers,
        )
        assert resp.status_code == 422, currency
        assert resp.json()["code"] in {"invalid_currency", "validation_error"}
    resp = client.post(
        _tiers_url(event),
        json=tier_body(price={"amount": 100, "currency": "XYZ"}),
        headers=organizer.headers,
    )
    assert resp.json()["code"] == "invalid_currency"
    lower = client.post(
        _tiers_url(event),
        json=tier_body(price={"amount": 100, "currency": "usd"}),
        headers=organizer.headers,
    )
    assert lower.status_code == 201
    assert lower.json()["price"]["currency"] == "USD"


def test_price_must_be_a_non_negative_integer_of_minor_units(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    for amount in (-1, 10.5, "1000", None, 10**13):
        resp = client.post(
            _tiers_url(event),
            json=tier_body(price={"amount": amount, "currency": "NGN"}),
            headers=organizer.headers,
        )
        assert resp.status_code == 422, amount
        assert resp.json()["code"] == "validation_error"
    free = create_tier(client, organizer, event["id"], price={"amount": 0, "currency": "NGN"})
    assert free["price"]["amount"] == 0


def test_capacity_and_limits_are_bounded(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)
    for bad in ({"capacity": 0}, {"capacity": -5}, {"capacity": 10**7}, {"max_per_order": 0}):
        resp = client.post(_tiers_url(event), json=tier_body(**bad), headers=organizer.headers)
        assert resp.status_code == 422, bad
    limits = client.post(
        _tiers_url(event),
        json=tier_body(min_per_order=5, max_per_order=2),
        headers=organizer.headers,
    )
    assert limits.status_code == 422
    assert limits.json()["code"] == "invalid_order_limits"


def test_every_tier_of_an_event_shares_its_currency(
    client: TestClient, organizer: Organizer, db: Database
) -> None:
    event = create_event(client, organizer)
    first = create_tier(client, organizer, event["id"])
    resp = client.post(
        _tiers_url(event),
        json=tier_body(price={"amount": 2000, "currency": "USD"}),
        headers=organizer.headers,
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "currency_mismatch"
    assert resp.json()["currency"] == "NGN"
    # The only tier, with nothing sold, may switch the event's currency (a draft's typo).
    switched = client.patch(
        f"/api/v1/tiers/{first['id']}",
        json={"price": {"amount": 2000, "currency": "USD"}},
        headers=organizer.headers,
    )
    assert switched.status_code == 200, switched.text
    assert db.query(lambda s: s.get(Event, event["id"]).currency) == "USD"  # type: ignore[union-attr]
    second = create_tier(client, organizer, event["id"], price={"amount": 0, "currency": "USD"})
    back = client.patch(
        f"/api/v1/tiers/{second['id']}",
        json={"price": {"amount": 0, "currency": "NGN"}},
        headers=organizer.headers,
    )
    assert back.status_code == 422
    assert back.json()["code"] == "currency_mismatch"


def test_sales_window_must_end_after_it_starts(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)
    start = datetime.fromisoformat(event["starts_at"]) - timedelta(days=5)
    resp = client.post(
        _tiers_url(event),
        json=tier_body(
            sales_start_at=start.isoformat(), sales_end_at=(start - timedelta(hours=1)).isoformat()
        ),
        headers=organizer.headers,
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_sales_window"
    tier = create_tier(client, organizer, event["id"], sales_start_at=start.isoformat())
    patch = client.patch(
        f"/api/v1/tiers/{tier['id']}",
        json={"sales_end_at": (start - timedelta(minutes=1)).isoformat()},
        headers=organizer.headers,
    )
    assert patch.status_code == 422
    assert patch.json()["code"] == "invalid_sales_window"


def test_capacity_cannot_go_below_held_plus_sold(
    client: TestClient, organizer: Organizer, db: Database
) -> None:
    event = create_event(client, organizer)
    tier = create_tier(client, organizer, event["id"], capacity=20)
    _set_counts(db, tier["id"], held=3, sold=5)
    url = f"/api/v1/tiers/{tier['id']}"
    resp = client.patch(url, json={"capacity": 7}, headers=organizer.headers)
    assert resp.status_code == 409
    body = resp.json()
    assert body["code"] == "capacity_below_sold"
    assert (body["held_count"], body["sold_count"]) == (3, 5)
    ok = client.patch(url, json={"capacity": 8}, headers=organizer.headers)
    assert ok.status_code == 200
    assert ok.json()["capacity"] == 8
    assert ok.json()["available"] == 0
    grown = client.patch(
        url, json={"capacity": 50, "name": "Early bird"}, headers=organizer.headers
    )
    assert grown.json()["available"] == 42
    assert grown.json()["sold_count"] == 5  # changing a tier never touches its counters


def test_refused_capacity_change_keeps_the_other_changes_out_too(
    client: TestClient, organizer: Organizer, db: Database
) -> None:
    event = create_event(client, organizer)
    tier = create_tier(client, organizer, event["id"], capacity=10)
    _set_counts(db, tier["id"], held=0, sold=10)
    resp = client.patch(
        f"/api/v1/tiers/{tier['id']}",
        json={"capacity": 5, "name": "Renamed"},
        headers=organizer.headers,
    )
    assert resp.status_code == 409
    assert db.query(lambda s: s.get(TicketTier, tier["id"]).name) == "Regular"  # type: ignore[union-attr]


def test_hidden_tier_needs_a_code_stored_only_as_its_hmac(
    client: TestClient, organizer: Organizer, db: Database, settings: Settings
) -> None:
    event = create_event(client, organizer)
    resp = client.post(_tiers_url(event), json=tier_body(is_hidden=True), headers=organizer.headers)
    assert resp.status_code == 422
    assert resp.json()["code"] == "access_code_required"
    tier = create_tier(client, organizer, event["id"], is_hidden=True, access_code="VIP2030")
    assert tier["has_access_code"] is True
    assert "access_code" not in tier
    stored = db.query(lambda s: s.get(TicketTier, tier["id"]).access_code_hash)  # type: ignore[union-attr]
    assert stored == hash_access_code(settings.secret, "vip2030")
    assert "VIP2030" not in (stored or "")
    cleared = client.patch(
        f"/api/v1/tiers/{tier['id']}", json={"access_code": None}, headers=organizer.headers
    )
    assert cleared.status_code == 422
    assert cleared.json()["code"] == "access_code_required"


def test_patch_refuses_nulls_and_unknown_tiers(
    client: TestClient, organizer: Organizer, stranger_headers: dict[str, str]
) -> None:
    event = create_event(client, organizer)
    tier = create_tier(client, organizer, event["id"])
    url = f"/api/v1/tiers/{tier['id']}"
    assert client.patch(url, json={"capacity": None}, headers=organizer.headers).status_code == 422
    assert client.patch(url, json={"price": None}, headers=organizer.headers).status_code == 422
    stranger = client.patch(url, json={"capacity": 5}, headers=stranger_headers)
    assert stranger.status_code == 404
    assert stranger.json()["code"] == "tier_not_found"
    missing = client.patch(
        "/api/v1/tiers/tir_" + "0" * 26, json={"capacity": 5}, headers=organizer.headers
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == "tier_not_found"


def test_tier_list_is_paginated_by_position(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)
    c = create_tier(client, organizer, event["id"], name="C", position=3)
    a = create_tier(client, organizer, event["id"], name="A", position=1)
    b = create_tier(client, organizer, event["id"], name="B", position=2)
    first = client.get(_tiers_url(event), params={"limit": 2}, headers=organizer.headers).json()
    assert [t["id"] for t in first["items"]] == [a["id"], b["id"]]
    rest = client.get(
        _tiers_url(event), params={"cursor": first["next_cursor"]}, headers=organizer.headers
    ).json()
    assert [t["id"] for t in rest["items"]] == [c["id"]]
    assert rest["next_cursor"] is None


# --- sessions -----------------------------------------------------------------------------


def _session_body(event: dict, start_hours: float, hours: float, **extra: object) -> dict:  # type: ignore[type-arg]
    starts = datetime.fromisoformat(event["starts_at"]) + timedelta(hours=start_hours)
    return {
        "title": f"Set at +{start_hours}h",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=hours)).isoformat(),
        **extra,
    }


def test_sessions_lie_within_the_event(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)  # four hours long
    url = f"/api/v1/events/{event['id']}/sessions"
    ok = client.post(
        url, json=_session_body(event, 1, 1, location="Main stage"), headers=organizer.headers
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["id"].startswith("ses_")
    assert ok.json()["location"] == "Main stage"
    for start, length in ((-1, 2), (3, 2), (5, 1)):
        resp = client.post(url, json=_session_body(event, start, length), headers=organizer.headers)
        assert resp.status_code == 422
        assert resp.json()["code"] == "session_outside_event"
    backwards = client.post(url, json=_session_body(event, 2, -1), headers=organizer.headers)
    assert backwards.json()["code"] == "invalid_schedule"
    listing = client.get(url, headers=organizer.headers).json()
    assert [s["id"] for s in listing["items"]] == [ok.json()["id"]]


def test_rescheduling_cannot_strand_a_session(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)
    client.post(
        f"/api/v1/events/{event['id']}/sessions",
        json=_session_body(event, 3, 1),
        headers=organizer.headers,
    )
    shorter = (datetime.fromisoformat(event["starts_at"]) + timedelta(hours=2)).isoformat()
    resp = client.patch(
        f"/api/v1/events/{event['id']}", json={"ends_at": shorter}, headers=organizer.headers
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "session_outside_event"


def test_tier_admits_to_chosen_sessions_of_its_own_event(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    other = create_event(client, organizer, title="Other")
    url = f"/api/v1/events/{event['id']}/sessions"
    day1 = client.post(url, json=_session_body(event, 0, 1), headers=organizer.headers).json()
    day2 = client.post(url, json=_session_body(event, 2, 1), headers=organizer.headers).json()
    foreign = client.post(
        f"/api/v1/events/{other['id']}/sessions",
        json=_session_body(other, 0, 1),
        headers=organizer.headers,
    ).json()
    tier = create_tier(client, organizer, event["id"], session_ids=[day1["id"]])
    assert tier["session_ids"] == [day1["id"]]
    bad = client.post(
        _tiers_url(event), json=tier_body(session_ids=[foreign["id"]]), headers=organizer.headers
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "unknown_session"
    assert bad.json()["session_ids"] == [foreign["id"]]
    wrong_prefix = client.post(
        _tiers_url(event), json=tier_body(session_ids=[event["id"]]), headers=organizer.headers
    )
    assert wrong_prefix.status_code == 422
    both = client.patch(
        f"/api/v1/tiers/{tier['id']}",
        json={"session_ids": [day2["id"], day1["id"], day1["id"]]},
        headers=organizer.headers,
    ).json()
    assert both["session_ids"] == sorted([day1["id"], day2["id"]])
    untouched = client.patch(
        f"/api/v1/tiers/{tier['id']}", json={"name": "Two days"}, headers=organizer.headers
    ).json()
    assert untouched["session_ids"] == both["session_ids"]
    everything = client.patch(
        f"/api/v1/tiers/{tier['id']}", json={"session_ids": []}, headers=organizer.headers
    ).json()
    assert everything["session_ids"] == []


def test_tier_changes_are_audited_without_the_access_code(
    client: TestClient, organizer: Organizer, db: Database
) -> None:
    from admitone.access.models import AuditEntry

    event = create_event(client, organizer)
    tier = create_tier(client, organizer, event["id"])
    client.patch(
        f"/api/v1/tiers/{tier['id']}",
        json={"capacity": 50, "is_hidden": True, "access_code": "SECRET-CODE"},
        headers=organizer.headers,
    )
    entries = db.query(
        lambda s: [
            (e.action, e.before, e.after)
            for e in s.scalars(
                select(AuditEntry)
                .where(AuditEntry.target_id == tier["id"])
                .order_by(AuditEntry.created_at)
            )
        ]
    )
    assert [a for a, _, _ in entries] == ["tier.created", "tier.updated"]
    _, before, after = entries[1]
    assert before == {"capacity": 100, "is_hidden": False}
    assert after == {"capacity": 50, "is_hidden": True, "access_code_changed": True}
    assert "SECRET-CODE" not in repr(entries)
