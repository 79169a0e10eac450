"""DP batches through the API: good and bad rows, the zip of results, hostile uploads,
photo URLs that point inside our network, cancel, and who may run a batch."""

from __future__ import annotations

import http.server
import io
import threading
import zipfile
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

from admitone.core.db import Database
from admitone.core.uploads import PhotoZip
from admitone.dp.service import batch_render
from admitone.integrations.fetch import FetchPolicy, system_resolver
from admitone.integrations.storage import storage_for
from admitone.orgs.models import Organization
from admitone.settings import Settings
from tests.dp.batch_helpers import (
    csv_bytes,
    get_batch,
    lying_zip,
    photos_zip,
    post_batch,
    zip_bytes,
)
from tests.dp.conftest import World, photo
from tests.factories import add_team_member, auth_headers, make_user


def _start(client: TestClient, world: World, csv: bytes, photos: bytes | None) -> dict[str, Any]:
    r = post_batch(client, world.campaign["id"], world.template["id"], csv, photos, world.headers)
    assert r.status_code == 202, r.text
    return dict(r.json())


def _refused(client: TestClient, world: World, csv: bytes, photos: bytes | None) -> Any:
    r = post_batch(client, world.campaign["id"], world.template["id"], csv, photos, world.headers)
    assert 400 <= r.status_code < 500, r.text
    return r.json()


def _audit(client: TestClient, world: World) -> list[str]:
    r = client.get(
        f"/api/v1/organizations/{world.event.organization_id}/audit", headers=world.headers
    )
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["items"]]


def test_a_batch_renders_its_good_rows_and_reports_each_bad_one_by_line(
    client: TestClient, world: World, run_jobs: Any
) -> None:
    csv = (
        b"name,title,photo\n"
        b"Ada Obi,Speaker,ada.jpg\n"  # 2
        b"Bola Tinubu,,photos/bola.jpg\n"  # 3
        b"Chi Eze,Volunteer,broken.jpg\n"  # 4: not an image
        b"Dayo,Guest,ghost.jpg\n"  # 5: not in the zip
        b"B1tch,Guest,chi.jpg\n"  # 6: blocked by the word list
        b",Guest,chi.jpg\n"  # 7: no name
        b"Ren\xe9e,Guest,chi.jpg\n"  # 8: not UTF-8
        b"Zoe Ng,Host,chi.jpg\n"  # 9
    )
    photos = zip_bytes(
        {
            "ada.jpg": photo(640, 480),
            "photos/bola.jpg": photo(480, 640, "PNG"),
            "chi.jpg": photo(500, 500),
            "broken.jpg": b"\xff\xd8\xff\xe0 not really a jpeg",
        }
    )
    started = _start(client, world, csv, photos)
    assert started["status"] == "running"
    assert started["total"] == 8
    assert started["download_url"] is None

    assert run_jobs() >= 1
    batch = get_batch(client, started["id"], world.headers)
    assert batch["status"] == "completed"
    assert (batch["done"], batch["failed"], batch["pending"]) == (3, 5, 0)
    assert [(e["line"], e["reason"]) for e in batch["errors"]] == [
        (4, "invalid_image"),
        (5, "photo_not_in_zip"),
        (6, "text_blocked"),
        (7, "missing_name"),
        (8, "invalid_encoding"),
    ]

    download = client.get(batch["download_url"], headers=world.headers)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.content)) as z:
        assert z.testzip() is None
        assert z.namelist() == ["0002-ada-obi.jpg", "0003-bola-tinubu.jpg", "0009-zoe-ng.jpg"]
        for name in z.namelist():
            with Image.open(io.BytesIO(z.read(name))) as image:
                image.load()
                assert (image.format, image.size) == ("JPEG", (400, 400))
    assert "dp_batch.created" in _audit(client, world)


def test_a_batch_of_photo_urls_renders_each_fetched_photo(
    client: TestClient, world: World, settings: Settings, run_jobs: Any
) -> None:
    body = photo(400, 300)

    class Photos(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            ok = self.path == "/ada.jpg"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Photos)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The local server stands in for the internet: this test's settings let loopback in.
    settings.moderation.fetch.allow_http = True
    settings.moderation.fetch.allow_networks = ["127.0.0.0/8"]
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        started = _start(
            client, world, csv_bytes(f"Ada,Guest,{base}/ada.jpg", f"Bo,Guest,{base}/gone.jpg"), None
        )
        run_jobs()
    finally:
        server.shutdown()
    batch = get_batch(client, started["id"], world.headers)
    assert (batch["done"], batch["failed"]) == (1, 1)
    assert [(e["line"], e["reason"]) for e in batch["errors"]] == [(3, "fetch_failed")]


def test_photo_urls_inside_our_network_are_refused_row_by_row(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    """Literal addresses, `localhost` through the system resolver, and names that the
    fetcher's resolver hook answers with a private address."""
    names = {
        "intranet.example": ["10.0.0.1"],
        "metadata.example": ["169.254.169.254"],
        "loop.example": ["127.0.0.1"],
        "mixed.example": ["93.184.215.14", "10.1.2.3"],
    }

    def resolver(host: str, port: int) -> list[str]:
        return names[host] if host in names else system_resolver(host, port)

    urls = [
        "https://127.0.0.1/a.jpg",
        "https://10.0.0.1/a.jpg",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:169.254.169.254]/a.jpg",
        "https://localhost/a.jpg",
        *(f"https://{n}/a.jpg" for n in names),
        "http://example.com/a.jpg",  # plain http: never in these settings
    ]
    started = _start(client, world, csv_bytes(*(f"P{i},T,{u}" for i, u in enumerate(urls))), None)
    policy = FetchPolicy.from_settings(settings, resolver=resolver)
    handled = batch_render.render_lane(
        db, storage_for(settings), settings, started["id"], 1, "test-lane", policy=policy
    )
    assert handled == len(urls)
    batch = get_batch(client, started["id"], world.headers)
    assert batch["status"] == "completed"
    assert batch["done"] == 0
    assert [e["reason"] for e in batch["errors"]] == ["url_not_allowed"] * len(urls)


def test_hostile_uploads_are_refused_with_a_4xx_and_a_stable_code(
    client: TestClient, world: World
) -> None:
    one = csv_bytes("Ada,Guest,ada.jpg")
    assert _refused(client, world, one, zip_bytes({"../ada.jpg": photo()}))["code"] == (
        "unsafe_zip_member"
    )
    assert _refused(client, world, one, zip_bytes({"/etc/ada.jpg": photo()}))["code"] == (
        "unsafe_zip_member"
    )
    bomb = lying_zip("ada.jpg", declared=4_000_000_000)
    assert _refused(client, world, one, bomb)["code"] == "zip_too_large"
    assert _refused(client, world, one, b"PK\x03\x04 not a zip")["code"] == "invalid_zip"
    many = csv_bytes(*(f"Person {i},Guest,p{i}.jpg" for i in range(100_000)))
    refused = _refused(client, world, many, photos_zip("p0.jpg"))
    assert refused["code"] == "too_many_rows"
    utf16 = "name,title,photo\nAda,Guest,ada.jpg\n".encode("utf-16")
    assert _refused(client, world, utf16, photos_zip("ada.jpg"))["code"] == "invalid_csv"
    assert _refused(client, world, b"\xff\xfe\x00garbage", None)["code"] == "invalid_csv"
    assert _refused(client, world, b"first,last\nA,B\n", None)["code"] == "invalid_csv"
    assert _refused(client, world, b"name,title,photo\n", None)["code"] == "empty_batch"


def test_a_member_that_inflates_past_its_ratio_fails_its_row_only(
    client: TestClient, world: World, run_jobs: Any
) -> None:
    members = {"ada.jpg": photo(), "bomb.jpg": b"\0" * (10 * 1024 * 1024)}
    photos = zip_bytes(members, compression=zipfile.ZIP_DEFLATED)
    assert len(photos) < 100_000
    started = _start(client, world, csv_bytes("Ada,Guest,ada.jpg", "Bo,Guest,bomb.jpg"), photos)
    run_jobs()
    batch = get_batch(client, started["id"], world.headers)
    assert (batch["done"], batch["failed"]) == (1, 1)
    assert [(e["line"], e["reason"]) for e in batch["errors"]] == [(3, "suspicious_compression")]


def test_cancel_stops_pending_rows_and_keeps_what_was_rendered(
    client: TestClient, world: World, run_jobs: Any, db: Database, settings: Settings
) -> None:
    names = [f"p{i}.jpg" for i in range(5)]
    started = _start(
        client, world, csv_bytes(*(f"P {i},Guest,{n}" for i, n in enumerate(names))),
        photos_zip(*names),
    )  # fmt: skip
    # One worker has recorded two rows when the organizer cancels.
    rows = db.mutation(
        batch_render.claim_rows, started["id"], "w", limit=2, lease=timedelta(seconds=60)
    )
    plan = db.query(batch_render.plan_lane, started["id"])
    assert plan is not None
    storage = storage_for(settings)
    photos = PhotoZip(
        storage.get(plan.photos_key or ""), plan.photo_names, batch_render.zip_limits(settings.dp)
    )
    renderer = batch_render.Renderer(storage, settings, plan, FetchPolicy(), photos)
    rendered = [renderer.render(r) for r in rows]
    assert not any(isinstance(r, batch_render.RowResult) for r in rendered)
    results = [renderer.store(r.line, out) for r, out in zip(rows, rendered, strict=True)]  # type: ignore[arg-type]
    db.mutation(batch_render.record_rows, started["id"], "w", results)

    cancelled = client.post(f"/api/v1/dp-batches/{started['id']}/cancel", headers=world.headers)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["done"], body["cancelled"], body["pending"]) == (
        "cancelled", 2, 3, 0,
    )  # fmt: skip
    run_jobs()
    assert get_batch(client, started["id"], world.headers)["done"] == 2
    again = client.post(f"/api/v1/dp-batches/{started['id']}/cancel", headers=world.headers)
    assert (again.status_code, again.json()["code"]) == (409, "dp_batch_not_running")
    download = client.get(body["download_url"], headers=world.headers)
    with zipfile.ZipFile(io.BytesIO(download.content)) as z:
        assert z.namelist() == ["0002-p-0.jpg", "0003-p-1.jpg"]
    assert "dp_batch.cancelled" in _audit(client, world)


def test_the_download_waits_for_the_batch_to_finish(client: TestClient, world: World) -> None:
    started = _start(client, world, csv_bytes("Ada,Guest,ada.jpg"), photos_zip("ada.jpg"))
    r = client.get(f"/api/v1/dp-batches/{started['id']}/download", headers=world.headers)
    assert (r.status_code, r.json()["code"]) == (409, "dp_batch_not_finished")


def test_only_the_campaigns_managers_see_or_run_its_batches(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    started = _start(client, world, csv_bytes("Ada,Guest,ada.jpg"), photos_zip("ada.jpg"))
    with db.session() as s:
        stranger = auth_headers(s, settings, make_user(s))
        org = s.get(Organization, world.event.organization_id)
        assert org is not None
        viewer_user = make_user(s)
        add_team_member(s, org, viewer_user, "viewer")
        viewer = auth_headers(s, settings, viewer_user)
    url = f"/api/v1/dp-batches/{started['id']}"
    seen = client.get(url, headers=stranger)
    assert (seen.status_code, seen.json()["code"]) == (404, "dp_batch_not_found")
    denied = client.get(url, headers=viewer)
    assert (denied.status_code, denied.json()["code"]) == (403, "capability_required")
    post = post_batch(
        client, world.campaign["id"], world.template["id"], csv_bytes("A,B,a.jpg"),
        photos_zip("a.jpg"), viewer,
    )  # fmt: skip
    assert (post.status_code, post.json()["code"]) == (403, "capability_required")
    assert client.post(f"{url}/cancel", headers=viewer).status_code == 403
    assert client.get(url).status_code == 401


def test_a_lane_lets_pillow_keep_freed_image_blocks_never_fewer_than_set() -> None:
    from PIL import _imaging as pillow_core

    before = pillow_core.get_blocks_max()
    try:
        for already, expected in ((0, batch_render.IMAGE_BLOCKS), (64, 64)):
            pillow_core.set_blocks_max(already)
            batch_render.keep_image_blocks.cache_clear()
            batch_render.keep_image_blocks()
            assert pillow_core.get_blocks_max() == expected
    finally:
        pillow_core.set_blocks_max(before)
