"""DP test helpers: an organizer with an event, campaigns and templates made through the API,
real images made by Pillow."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image

from admitone.app import create_app
from admitone.core.db import Database
from admitone.events.models import Event, TicketTier
from admitone.settings import Settings
from admitone.users.models import User
from tests.dp.render.images import frame_with_hole, layout_dict, photo_bytes, png_bytes, two_tone
from tests.factories import auth_headers, make_event, make_organization, make_tier, make_user


@dataclass
class World:
    organizer: User
    headers: dict[str, str]
    event: Event
    tier: TicketTier
    campaign: dict[str, Any]
    template: dict[str, Any]


def frame_png(size: int = 400) -> bytes:
    return png_bytes(frame_with_hole((size, size), (100, 40, 299, 239)))


def photo(width: int = 640, height: int = 480, fmt: str = "JPEG", **kw: Any) -> bytes:
    return photo_bytes(two_tone(width, height), fmt, **kw)


def create_campaign(
    client: TestClient, headers: dict[str, str], event_id: str, **body: Any
) -> dict[str, Any]:
    r = client.post(
        f"/api/v1/events/{event_id}/dp-campaigns",
        json={"title": "I'm attending", **body},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def add_template(
    client: TestClient,
    headers: dict[str, str],
    campaign_id: str,
    layout: dict[str, Any] | None = None,
    frame: bytes | None = None,
) -> Any:
    return client.post(
        f"/api/v1/dp-campaigns/{campaign_id}/templates",
        files={"file": ("frame.png", frame or frame_png(), "image/png")},
        data={"layout": json.dumps(layout or layout_dict()), "name": "Green"},
        headers=headers,
    )


def generate(
    client: TestClient,
    campaign_id: str,
    template_id: str,
    *,
    data: bytes | None = None,
    texts: dict[str, str] | None = None,
    share_to_hub: bool = False,
    headers: dict[str, str] | None = None,
) -> Any:
    return client.post(
        f"/api/v1/dp-campaigns/{campaign_id}/generate",
        files={"file": ("me.jpg", data if data is not None else photo(), "image/jpeg")},
        data={
            "template_id": template_id,
            "texts": json.dumps({"name": "Ada Obi"} if texts is None else texts),
            "share_to_hub": "true" if share_to_hub else "false",
        },
        headers=headers or {},
    )


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture
def world(db: Database, settings: Settings, client: TestClient) -> World:
    """A published campaign with one template, on a published event of a new organizer."""
    with db.session() as s:
        organizer = make_user(s)
        org = make_organization(s, organizer)
        event = make_event(s, org, status="published")
        tier = make_tier(s, event)
        headers = auth_headers(s, settings, organizer)
    campaign = create_campaign(client, headers, event.id)
    r = add_template(client, headers, campaign["id"])
    assert r.status_code == 201, r.text
    published = client.post(f"/api/v1/dp-campaigns/{campaign['id']}/publish", headers=headers)
    assert published.status_code == 200, published.text
    return World(organizer, headers, event, tier, published.json(), r.json())


@dataclass
class Served:
    url: str
    db: Database
    settings: Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(settings: Settings, committed_db: Database) -> Iterator[Served]:
    """The app behind a real uvicorn on a free port, on a database with real commits."""
    app = create_app(settings, committed_db, run_worker=False)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", committed_db, settings)
    finally:
        server.should_exit = True
        thread.join(10)


def served_world(served: Served) -> World:
    """`world` on the served app: a published campaign with one template."""
    with served.db.session() as s:
        organizer = make_user(s)
        org = make_organization(s, organizer)
        event = make_event(s, org, status="published")
        tier = make_tier(s, event)
        headers = auth_headers(s, served.settings, organizer)
    with httpx.Client(base_url=served.url, timeout=30) as http:
        campaign = http.post(
            f"/api/v1/events/{event.id}/dp-campaigns", json={"title": "I'm going"}, headers=headers
        ).json()
        template = http.post(
            f"/api/v1/dp-campaigns/{campaign['id']}/templates",
            files={"file": ("frame.png", frame_png(), "image/png")},
            data={"layout": json.dumps(layout_dict())},
            headers=headers,
        ).json()
        published = http.post(
            f"/api/v1/dp-campaigns/{campaign['id']}/publish", headers=headers
        ).json()
    return World(organizer, headers, event, tier, published, template)
