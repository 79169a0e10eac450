"""What anyone sees: the hub, the gallery's pages, the share page and its unfurl; the
campaign's stats with referred orders."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.dp import service
from admitone.dp.models import DpDailyCounter, DpStatus, GeneratedDp
from tests.dp.conftest import World, add_template, create_campaign, decoded, generate
from tests.factories import make_order, make_tier


class Meta(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "meta":
            key = a.get("property") or a.get("name")
            if key and a.get("content") is not None:
                self.meta[key] = str(a["content"])
        if tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))


def parse(html: str) -> Meta:
    m = Meta()
    m.feed(html)
    return m


def test_share_page_unfurls_with_the_dps_own_image(client: TestClient, world: World) -> None:
    dp = generate(client, world.campaign["id"], world.template["id"]).json()
    page = client.get(dp["share_url"].removeprefix("http://testserver"))
    assert page.status_code == 200
    meta = parse(page.text)
    assert meta.meta["og:image"] == f"http://testserver/api/v1/public/dps/{dp['id']}/image"
    assert meta.meta["twitter:card"] == "summary_large_image"
    assert meta.meta["twitter:image"] == meta.meta["og:image"]
    assert world.event.title in meta.meta["og:title"]
    assert meta.meta["og:image:width"] == "400"
    event_link = f"http://testserver/events/{world.event.slug}?ref={dp['referral_code']}"
    assert event_link in meta.links
    # What a crawler fetches from og:image is the DP's picture, byte for byte.
    image = client.get(meta.meta["og:image"].removeprefix("http://testserver"))
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    owner = client.get(
        f"/api/v1/dps/{dp['id']}/image", headers={"X-DP-Token": dp["dp_token"]}
    ).content
    assert image.content == owner
    assert decoded(image.content).size == (400, 400)
    assert client.get("/dp/s/nosuchcode").status_code == 404


def test_campaign_page_renders_its_templates(client: TestClient, world: World) -> None:
    page = client.get(f"/dp/{world.campaign['slug']}")
    assert page.status_code == 200
    assert "Content-Security-Policy" in page.headers
    assert world.template["id"] in page.text
    assert '<script src="/static/dp.js"' in page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)  # no inline script
    assert client.get("/dp/no-such-campaign").status_code == 404
    draft = create_campaign(client, world.headers, world.event.id, title="Draft only")
    assert client.get(f"/dp/{draft['slug']}").status_code == 404


def test_gallery_pages_with_a_cursor(client: TestClient, world: World, run_jobs: Any) -> None:
    made = [
        generate(client, world.campaign["id"], world.template["id"], share_to_hub=True).json()["id"]
        for _ in range(3)
    ]
    run_jobs()  # the classifier clears them for the gallery
    slug = world.campaign["slug"]
    first = client.get(f"/api/v1/public/dp-campaigns/{slug}/gallery", params={"limit": 2}).json()
    assert set(first) == {"items", "next_cursor"}
    assert len(first["items"]) == 2
    second = client.get(
        f"/api/v1/public/dp-campaigns/{slug}/gallery",
        params={"limit": 2, "cursor": first["next_cursor"]},
    ).json()
    assert second["next_cursor"] is None
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert sorted(ids) == sorted(made)
    assert ids == sorted(ids, reverse=True)  # newest first (ids are time-ordered)
    bad = client.get(f"/api/v1/public/dp-campaigns/{slug}/gallery", params={"cursor": "!!"})
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_cursor"
    assert client.get("/api/v1/public/dp-campaigns/nope/gallery").status_code == 404


def test_hub_lists_published_campaigns_newest_or_trending(client: TestClient, world: World) -> None:
    quiet = create_campaign(client, world.headers, world.event.id, title="Quiet campaign")
    add_template(client, world.headers, quiet["id"])
    with time_machine.travel(utcnow().replace(microsecond=0).timestamp() + 60, tick=True):
        client.post(f"/api/v1/dp-campaigns/{quiet['id']}/publish", headers=world.headers)
    create_campaign(client, world.headers, world.event.id, title="Draft campaign")
    for _ in range(2):
        generate(client, world.campaign["id"], world.template["id"])
    newest = client.get("/api/v1/public/dp-hub").json()
    assert [c["id"] for c in newest["items"]] == [quiet["id"], world.campaign["id"]]
    trending = client.get("/api/v1/public/dp-hub", params={"sort": "trending"}).json()
    assert [(c["id"], c["recent_generations"]) for c in trending["items"]] == [
        (world.campaign["id"], 2),
        (quiet["id"], 0),
    ]
    page = client.get("/api/v1/public/dp-hub", params={"sort": "trending", "limit": 1}).json()
    rest = client.get(
        "/api/v1/public/dp-hub",
        params={"sort": "trending", "limit": 1, "cursor": page["next_cursor"]},
    ).json()
    assert [c["id"] for c in rest["items"]] == [quiet["id"]]
    assert rest["next_cursor"] is None
    found = client.get("/api/v1/public/dp-hub", params={"q": "quiet"}).json()
    assert [c["id"] for c in found["items"]] == [quiet["id"]]
    assert client.get("/api/v1/public/dp-hub", params={"q": "%"}).json()["items"] == []
    assert client.get("/api/v1/public/dp-hub", params={"sort": "oldest"}).status_code == 422


def test_trending_counts_only_the_dps_still_public(
    client: TestClient, world: World, db: Database
) -> None:
    made = [
        generate(client, world.campaign["id"], world.template["id"]).json()["id"] for _ in range(5)
    ]
    taken_out = [DpStatus.REMOVED, DpStatus.HIDDEN, DpStatus.DELETED, DpStatus.PENDING_REVIEW]
    with db.session() as s:
        for dp_id, status in zip(made, taken_out, strict=False):
            s.execute(update(GeneratedDp).where(GeneratedDp.id == dp_id).values(status=status))
    trending = client.get("/api/v1/public/dp-hub", params={"sort": "trending"}).json()
    assert [(c["id"], c["recent_generations"]) for c in trending["items"]] == [
        (world.campaign["id"], 1)
    ]


def test_stats_count_views_downloads_shares_and_referred_orders(
    client: TestClient, world: World, db: Database
) -> None:
    c, slug = world.campaign["id"], world.campaign["slug"]
    for _ in range(3):
        assert client.get(f"/api/v1/public/dp-campaigns/{slug}").status_code == 200
    client.get(f"/dp/{slug}")
    a = generate(client, c, world.template["id"]).json()
    b = generate(client, c, world.template["id"]).json()
    client.get(f"/api/v1/public/dps/{a['id']}/image", params={"download": "1"})
    client.get(f"/dp/s/{a['referral_code']}")
    with db.session() as s:
        free = make_tier(s, world.event, name="Free", price_amount=0, capacity=50)
    placed = client.post(
        "/api/v1/orders",
        json={
            "event_id": world.event.id,
            "items": [{"tier_id": free.id, "quantity": 2}],
            "buyer": {"email": "friend@example.com", "name": "Friend"},
            "referral_code": a["referral_code"],
        },
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "paid"
    with db.session() as s:
        make_order(s, world.event, world.tier, quantity=3, referral_code=b["referral_code"])
        # Neither a pending nor a refunded order was brought.
        make_order(s, world.event, world.tier, referral_code=b["referral_code"], status="pending")
        make_order(s, world.event, world.tier, referral_code=a["referral_code"], status="refunded")
        make_order(s, world.event, world.tier, referral_code="someone-else")
    stats = client.get(f"/api/v1/dp-campaigns/{c}/stats", headers=world.headers).json()
    assert stats["views"] == 4
    assert stats["generations"] == 2
    assert stats["downloads"] == 1
    assert stats["shares"] == 1
    assert stats["supporters"] == 2
    assert stats["referred_orders"] == 2
    assert stats["referred_tickets"] == 5
    assert {(d["id"], d["orders"], d["tickets"]) for d in stats["by_dp"]} == {
        (a["id"], 1, 2),
        (b["id"], 1, 3),
    }
    today = utcnow().date().isoformat()
    assert stats["by_day"] == [
        {"day": today, "views": 4, "generations": 2, "downloads": 1, "shares": 1}
    ]


def test_counters_are_batched_in_memory_until_flushed(world: World, db: Database) -> None:
    def rows() -> int:
        return len(db.query(lambda s: list(s.scalars(select(DpDailyCounter)))))

    before = rows()
    for _ in range(50):
        service.count(db, world.campaign["id"], "views", flush_seconds=3600)
    assert rows() == before  # fifty views, no write yet
    assert service.flush(db) == 1
    stats_row = db.query(lambda s: s.get(DpDailyCounter, (world.campaign["id"], utcnow().date())))
    assert stats_row is not None
    assert stats_row.views == 50
    assert service.flush(db) == 0
