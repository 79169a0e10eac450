"""The public list of events: what is listed, in which order, the search, pages and prices."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.pagination import encode_cursor
from admitone.events import service as events
from admitone.events.models import TicketTier
from admitone.orgs.models import Organization
from admitone.settings import Settings
from tests.access.test_capabilities import count_queries
from tests.events.conftest import Organizer, create_event, create_tier, published_event
from tests.factories import (
    auth_headers,
    image_bytes,
    make_event,
    make_organization,
    make_tier,
    make_user,
)

URL = "/api/v1/public/events"


def _list(client: TestClient, **params: Any) -> Any:
    resp = client.get(URL, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _titles(client: TestClient, **params: Any) -> list[str]:
    return [e["title"] for e in _list(client, **params)["items"]]


def _in_days(days: float) -> str:
    return (utcnow() + timedelta(days=days)).replace(microsecond=0).isoformat()


def _at(days: float, hours: float = 3) -> dict[str, str]:
    return {"starts_at": _in_days(days), "ends_at": _in_days(days + hours / 24)}


def test_lists_published_public_events_soonest_first_without_sign_in(
    client: TestClient, organizer: Organizer
) -> None:
    later = published_event(client, organizer, title="Later", **_at(40))
    sooner = published_event(
        client,
        organizer,
        title="Sooner",
        venue={"name": "Eko Hall", "address": "Victoria Island"},
        online_url="https://stream.example/live",
        **_at(10),
    )
    body = _list(client)
    assert [e["id"] for e in body["items"]] == [sooner["id"], later["id"]]
    assert body["next_cursor"] is None
    first = body["items"][0]
    assert first == {
        "id": sooner["id"],
        "slug": sooner["slug"],
        "title": "Sooner",
        "timezone": "Africa/Lagos",
        "starts_at": first["starts_at"],
        "ends_at": first["ends_at"],
        "venue": {"name": "Eko Hall", "address": "Victoria Island"},
        "is_online": True,
        "organizer": {"id": organizer.org.id, "name": organizer.org.name},
        "currency": "NGN",
        "lowest_price": {"amount": 500_000, "currency": "NGN"},
        "cover_url": None,
    }
    assert first["starts_at"] == sooner["starts_at"]
    # The stream link and organizer-only fields stay on their own pages.
    assert "online_url" not in first
    assert "reservation_minutes" not in first
    assert body["items"][1]["venue"] is None
    assert body["items"][1]["is_online"] is False


def test_only_published_public_events_not_over_are_listed(
    client: TestClient, organizer: Organizer, db: Database
) -> None:
    listed = published_event(client, organizer, title="Listed")
    create_event(client, organizer, title="Draft")
    published_event(client, organizer, title="Unlisted", visibility="unlisted")
    published_event(client, organizer, title="Private", visibility="private")
    cancelled = published_event(client, organizer, title="Cancelled")
    client.post(f"/api/v1/events/{cancelled['id']}/cancel", headers=organizer.headers)
    now = utcnow()
    with db.session() as s:
        org = s.get(Organization, organizer.org.id)
        assert org is not None
        past = {"starts_at": now - timedelta(hours=5), "ends_at": now - timedelta(hours=1)}
        make_event(s, org, title="Ended", status="ended", **past)
        # Over, but the `events.end_past` cron has not run yet: not listed either.
        make_event(s, org, title="Over, still published", **past)
        make_event(
            s,
            org,
            title="Happening now",
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=2),
        )
    assert _titles(client) == ["Happening now", listed["title"]]


def test_lowest_price_counts_only_tiers_a_buyer_can_buy_now(
    client: TestClient, organizer: Organizer, db: Database
) -> None:
    event = create_event(client, organizer)
    eid = event["id"]
    create_tier(client, organizer, eid, name="Regular")  # 500_000
    create_tier(client, organizer, eid, name="Early", price={"amount": 300_000, "currency": "NGN"})
    cheap = {"price": {"amount": 100, "currency": "NGN"}}
    create_tier(
        client, organizer, eid, name="Hidden", is_hidden=True, access_code="FRIENDS", **cheap
    )
    create_tier(client, organizer, eid, name="Paused", is_paused=True, **cheap)
    create_tier(client, organizer, eid, name="Later", sales_start_at=_in_days(1), **cheap)
    gone = create_tier(client, organizer, eid, name="Gone", capacity=2, **cheap)
    db.mutation(
        lambda s: s.execute(
            update(TicketTier).where(TicketTier.id == gone["id"]).values(held_count=1, sold_count=1)
        )
    )
    client.post(f"/api/v1/events/{eid}/publish", headers=organizer.headers)
    [item] = _list(client)["items"]
    assert item["lowest_price"] == {"amount": 300_000, "currency": "NGN"}


def test_lowest_price_is_null_when_nothing_is_on_sale_and_zero_when_free(
    client: TestClient, organizer: Organizer
) -> None:
    hidden_only = create_event(client, organizer, title="Friends only", **_at(5))
    create_tier(client, organizer, hidden_only["id"], is_hidden=True, access_code="FRIENDS1")
    client.post(f"/api/v1/events/{hidden_only['id']}/publish", headers=organizer.headers)
    free = create_event(client, organizer, title="Free", **_at(6))
    create_tier(client, organizer, free["id"], price={"amount": 0, "currency": "USD"})
    client.post(f"/api/v1/events/{free['id']}/publish", headers=organizer.headers)
    items = _list(client)["items"]
    assert [(e["title"], e["currency"], e["lowest_price"]) for e in items] == [
        ("Friends only", "NGN", None),
        ("Free", "USD", {"amount": 0, "currency": "USD"}),
    ]


def test_pages_walk_every_event_once_in_order(
    client: TestClient, organizer: Organizer, db: Database
) -> None:
    starts = utcnow() + timedelta(days=3)
    with db.session() as s:
        org = s.get(Organization, organizer.org.id)
        assert org is not None
        # Two share a start time: the id breaks the tie, so the cursor skips neither.
        offsets = [4, 0, 2, 2, 1, 3, 5]
        made = [
            make_event(
                s,
                org,
                title=f"E{i}",
                starts_at=starts + timedelta(days=d),
                ends_at=starts + timedelta(days=d, hours=3),
            )
            for i, d in enumerate(offsets)
        ]
        expected = [e.id for e in sorted(made, key=lambda e: (e.starts_at, e.id))]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = _list(client, **params)
        pages += 1
        assert len(body["items"]) <= 3
        seen += [e["id"] for e in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 3


def test_bad_cursor_and_limits_are_422(client: TestClient) -> None:
    for cursor in ("not-a-cursor", encode_cursor("x"), encode_cursor("2030-01-01")):
        resp = client.get(URL, params={"cursor": cursor})
        assert resp.status_code == 422, cursor
        assert resp.json()["code"] == "invalid_cursor"
    for params in ({"limit": 0}, {"limit": 201}, {"cursor": "x" * 201}, {"q": "x" * 101}):
        resp = client.get(URL, params=params)
        assert resp.status_code == 422, params
        assert resp.json()["code"] == "validation_error"


def test_q_matches_titles_case_insensitively(client: TestClient, organizer: Organizer) -> None:
    for days, title in enumerate(
        ["Lagos Jazz Night", "Abuja jazz brunch", "Comedy Hour", "100% Afrobeats", "Snake_Case"],
        start=1,
    ):
        published_event(client, organizer, title=title, **_at(days))
    assert _titles(client, q="JAZZ") == ["Lagos Jazz Night", "Abuja jazz brunch"]
    assert _titles(client, q="  jazz night ") == ["Lagos Jazz Night"]
    # LIKE wildcards in the query are plain characters.
    assert _titles(client, q="%") == ["100% Afrobeats"]
    assert _titles(client, q="e_c") == ["Snake_Case"]
    assert _titles(client, q="opera") == []
    # An empty search box lists everything.
    assert len(_titles(client, q="")) == len(_titles(client, q="  ")) == 5
    page = _list(client, q="jazz", limit=1)
    assert [e["title"] for e in page["items"]] == ["Lagos Jazz Night"]
    rest = _list(client, q="jazz", limit=1, cursor=page["next_cursor"])
    assert [e["title"] for e in rest["items"]] == ["Abuja jazz brunch"]


def test_organization_filter(
    client: TestClient, organizer: Organizer, db: Database, settings: Settings
) -> None:
    mine = published_event(client, organizer, title="Mine")
    with db.session() as s:
        rival_user = make_user(s)
        rival_org = make_organization(s, rival_user, name="Rival Org")
        rival = Organizer(rival_user, rival_org, auth_headers(s, settings, rival_user))
    theirs = published_event(client, rival, title="Theirs", **_at(1))
    assert _titles(client) == ["Theirs", "Mine"]
    only = _list(client, organization_id=organizer.org.id)["items"]
    assert [e["id"] for e in only] == [mine["id"]]
    assert _list(client, organization_id=rival_org.id)["items"][0]["id"] == theirs["id"]
    assert _list(client, organization_id=rival_org.id)["items"][0]["organizer"]["name"] == (
        "Rival Org"
    )
    wrong = client.get(URL, params={"organization_id": mine["id"]})
    assert wrong.status_code == 422


def test_list_and_event_page_routes_do_not_collide(
    client: TestClient, organizer: Organizer
) -> None:
    event = published_event(client, organizer, slug="events")
    assert _list(client)["items"][0]["slug"] == "events"
    page = client.get("/api/v1/public/events/events")
    assert page.status_code == 200
    assert page.json()["id"] == event["id"]


@pytest.mark.parametrize("count", [1, 12])
def test_a_page_costs_two_queries_whatever_its_size(db: Database, count: int) -> None:
    with db.session() as s:
        org = make_organization(s, make_user(s))
        for i in range(count):
            event = make_event(s, org, title=f"E{i}", currency="NGN")
            make_tier(s, event, price_amount=1000 + i)
            make_tier(s, event, price_amount=500 + i)
    with db.session() as s, count_queries(s) as statements:
        items, _ = events.public_events(s, limit=50, cursor=None)
    assert len(items) == count
    assert {i.lowest_price.amount for i in items if i.lowest_price} == {
        500 + i for i in range(count)
    }
    assert len(statements) == 2, statements


def test_event_made_unlisted_leaves_the_list(client: TestClient, organizer: Organizer) -> None:
    event = published_event(client, organizer)
    assert _titles(client) == [event["title"]]
    resp = client.patch(
        f"/api/v1/events/{event['id']}", json={"visibility": "unlisted"}, headers=organizer.headers
    )
    assert resp.status_code == 200, resp.text
    assert _titles(client) == []


def test_an_event_with_a_cover_links_its_public_image(
    client: TestClient, organizer: Organizer
) -> None:
    event = published_event(client, organizer)
    resp = client.put(
        f"/api/v1/events/{event['id']}/cover",
        files={"file": ("cover.jpg", image_bytes(), "image/jpeg")},
        headers=organizer.headers,
    )
    assert resp.status_code == 200, resp.text
    (entry,) = _list(client)["items"]
    assert entry["cover_url"] == f"/api/v1/public/events/{event['slug']}/cover"
    image = client.get(entry["cover_url"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
