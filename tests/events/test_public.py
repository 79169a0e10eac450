"""The buyer's view: which events and tiers the public page shows, and the sale helpers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.events import errors
from admitone.events import service as events
from admitone.events.models import TicketTier
from admitone.settings import Settings
from tests.events.conftest import Organizer, create_event, create_tier, published_event


def _public(client: TestClient, slug: str, **params: str):  # type: ignore[no-untyped-def]
    return client.get(f"/api/v1/public/events/{slug}", params=params)


def test_published_public_event_is_served_without_sign_in(
    client: TestClient, organizer: Organizer
) -> None:
    event = published_event(client, organizer, venue={"name": "Hall"})
    resp = _public(client, event["slug"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["id"] == event["id"]
    assert body["status"] == "published"
    assert body["organizer"] == {"id": organizer.org.id, "name": organizer.org.name}
    assert body["venue"] == {"name": "Hall", "address": None}
    assert body["currency"] == "NGN"
    assert body["access_code_accepted"] is None
    [tier] = body["tiers"]
    assert tier["price"] == {"amount": 500_000, "currency": "NGN"}
    assert tier["available"] == 100
    assert tier["is_sold_out"] is False
    # Organizer-only fields stay private.
    assert "held_count" not in tier
    assert "capacity" not in tier
    assert "reservation_minutes" not in body


def test_draft_private_and_unknown_events_are_404(client: TestClient, organizer: Organizer) -> None:
    draft = create_event(client, organizer)
    private = published_event(client, organizer, title="Private", visibility="private")
    for slug in (draft["slug"], private["slug"], "no-such-event", "x" * 120):
        resp = _public(client, slug)
        assert resp.status_code == 404, slug
        assert resp.json()["code"] == "event_not_found"


def test_unlisted_event_is_served_by_its_link(client: TestClient, organizer: Organizer) -> None:
    event = published_event(client, organizer, visibility="unlisted")
    assert _public(client, event["slug"]).status_code == 200


def test_making_an_event_private_hides_it(client: TestClient, organizer: Organizer) -> None:
    event = published_event(client, organizer)
    client.patch(
        f"/api/v1/events/{event['id']}", json={"visibility": "private"}, headers=organizer.headers
    )
    assert _public(client, event["slug"]).status_code == 404


def test_only_tiers_on_sale_now_are_listed(
    client: TestClient, organizer: Organizer, db: Database
) -> None:
    event = create_event(client, organizer)
    now = utcnow()
    on_sale = create_tier(client, organizer, event["id"], name="On sale", position=1)
    create_tier(client, organizer, event["id"], name="Paused", is_paused=True)
    create_tier(
        client,
        organizer,
        event["id"],
        name="Later",
        sales_start_at=(now + timedelta(days=1)).isoformat(),
    )
    create_tier(
        client,
        organizer,
        event["id"],
        name="Over",
        sales_start_at=(now - timedelta(days=2)).isoformat(),
        sales_end_at=(now - timedelta(days=1)).isoformat(),
    )
    sold_out = create_tier(client, organizer, event["id"], name="Gone", capacity=2, position=2)
    db.mutation(
        lambda s: s.execute(
            update(TicketTier)
            .where(TicketTier.id == sold_out["id"])
            .values(held_count=1, sold_count=1)
        )
    )
    client.post(f"/api/v1/events/{event['id']}/publish", headers=organizer.headers)
    tiers = _public(client, event["slug"]).json()["tiers"]
    assert [(t["id"], t["available"], t["is_sold_out"]) for t in tiers] == [
        (on_sale["id"], 100, False),
        (sold_out["id"], 0, True),
    ]


def test_hidden_tier_appears_only_with_its_access_code(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    create_tier(client, organizer, event["id"], name="Public")
    hidden = create_tier(
        client, organizer, event["id"], name="Friends", is_hidden=True, access_code="Friends-2030"
    )
    client.post(f"/api/v1/events/{event['id']}/publish", headers=organizer.headers)
    plain = _public(client, event["slug"]).json()
    assert [t["name"] for t in plain["tiers"]] == ["Public"]
    unlocked = _public(client, event["slug"], access_code=" friends-2030 ").json()
    assert hidden["id"] in [t["id"] for t in unlocked["tiers"]]
    assert unlocked["access_code_accepted"] is True
    wrong = _public(client, event["slug"], access_code="guess").json()
    assert [t["name"] for t in wrong["tiers"]] == ["Public"]
    assert wrong["access_code_accepted"] is False


def test_cancelled_event_stays_visible_without_tiers(
    client: TestClient, organizer: Organizer
) -> None:
    event = published_event(client, organizer)
    client.post(f"/api/v1/events/{event['id']}/cancel", headers=organizer.headers)
    body = _public(client, event["slug"]).json()
    assert body["status"] == "cancelled"
    assert body["tiers"] == []


def test_cancelled_draft_is_never_public(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)
    client.post(f"/api/v1/events/{event['id']}/cancel", headers=organizer.headers)
    assert _public(client, event["slug"]).status_code == 404


def test_public_page_lists_sessions_and_what_each_tier_admits_to(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    starts = datetime.fromisoformat(event["starts_at"])
    slot = client.post(
        f"/api/v1/events/{event['id']}/sessions",
        json={
            "title": "Keynote",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=1)).isoformat(),
        },
        headers=organizer.headers,
    ).json()
    create_tier(client, organizer, event["id"], session_ids=[slot["id"]])
    client.post(f"/api/v1/events/{event['id']}/publish", headers=organizer.headers)
    body = _public(client, event["slug"]).json()
    assert [s["title"] for s in body["sessions"]] == ["Keynote"]
    assert body["tiers"][0]["session_ids"] == [slot["id"]]


# --- helpers for the orders domain ---------------------------------------------------------


def test_tiers_for_sale_returns_buyable_tiers(
    client: TestClient, organizer: Organizer, db: Database, settings: Settings
) -> None:
    event = create_event(client, organizer)
    regular = create_tier(client, organizer, event["id"])
    hidden = create_tier(client, organizer, event["id"], is_hidden=True, access_code="CODE1")
    paused = create_tier(client, organizer, event["id"], is_paused=True)
    later = create_tier(
        client,
        organizer,
        event["id"],
        sales_start_at=(utcnow() + timedelta(days=1)).isoformat(),
    )
    other = published_event(client, organizer, title="Other")
    other_tier = client.get(
        f"/api/v1/events/{other['id']}/tiers", headers=organizer.headers
    ).json()["items"][0]

    def call(tier_ids: list[str], code: str | None = None) -> dict[str, TicketTier]:
        code_hash = events.hash_access_code(settings.secret, code) if code else None
        return db.query(events.tiers_for_sale, event["id"], tier_ids, access_code_hash=code_hash)

    with pytest.raises(errors.EventNotOnSale):
        call([regular["id"]])
    client.post(f"/api/v1/events/{event['id']}/publish", headers=organizer.headers)
    assert set(call([regular["id"], regular["id"]])) == {regular["id"]}
    with pytest.raises(errors.TierNotFound):
        call([hidden["id"]])
    with pytest.raises(errors.TierNotFound):
        call([hidden["id"]], "wrong")
    assert set(call([regular["id"], hidden["id"]], "code1")) == {regular["id"], hidden["id"]}
    with pytest.raises(errors.SalesPaused):
        call([paused["id"]])
    with pytest.raises(errors.SalesClosed):
        call([later["id"]])
    with pytest.raises(errors.TierNotFound):
        call([other_tier["id"]])
    with pytest.raises(errors.EventNotFound):
        db.query(events.tiers_for_sale, "evt_" + "0" * 26, [regular["id"]])


def test_tier_session_ids_maps_every_tier(
    client: TestClient, organizer: Organizer, db: Database
) -> None:
    event = create_event(client, organizer)
    tier = create_tier(client, organizer, event["id"])
    assert db.query(events.tier_session_ids, [tier["id"]]) == {tier["id"]: []}
