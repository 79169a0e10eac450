"""Cover images: organizers upload, replace and remove an event's cover; buyers fetch it.

Images are made by Pillow in the test; blobs land in the test's own `var_dir/files`.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from admitone.access.models import AuditEntry
from admitone.app import create_app
from admitone.core.db import Database
from admitone.core.files import File
from admitone.integrations.storage import BlobNotFound, storage_for
from admitone.settings import Settings
from tests.events.conftest import Organizer, create_event, event_body, published_event
from tests.factories import auth_headers, image_bytes, make_organization, make_user

MiB = 1024 * 1024


def _put(
    client: TestClient,
    event_id: str,
    headers: dict[str, str],
    data: bytes,
    filename: str = "cover.jpg",
    content_type: str = "image/jpeg",
) -> Any:
    return client.put(
        f"/api/v1/events/{event_id}/cover",
        files={"file": (filename, data, content_type)},
        headers=headers,
    )


def _upload(client: TestClient, organizer: Organizer, event_id: str, data: bytes) -> Any:
    resp = _put(client, event_id, organizer.headers, data)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _file(db: Database, file_id: str) -> File | None:
    return db.query(lambda s: s.get(File, file_id))


def _blob_exists(settings: Settings, key: str) -> bool:
    try:
        storage_for(settings).get(key)
    except BlobNotFound:
        return False
    return True


def _stored_files(settings: Settings) -> list[str]:
    root = settings.var_dir / "files"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims these dimensions and holds no pixel data: a bomb costs 57 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def _jpeg_with_gps_and_rotation() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was held rotated 90 degrees
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (6.0, 27.0, 3.5), 3: "E", 4: (3.0, 23.0, 1.2)}  # GPS IFD
    data = image_bytes("JPEG", (64, 48), exif=exif)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825), "the source carries GPS"
    return data


# --- uploading ------------------------------------------------------------------------------


def test_jpeg_cover_is_stored_upright_without_exif_or_gps(
    client: TestClient, db: Database, settings: Settings, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    body = _upload(client, organizer, event["id"], _jpeg_with_gps_and_rotation())

    assert body["cover_file_id"].startswith("fil_")
    assert body["cover_url"] == f"/api/v1/events/{event['id']}/cover"
    row = _file(db, body["cover_file_id"])
    assert row is not None
    assert row.content_type == "image/jpeg"
    assert row.owner_user_id == organizer.user.id
    stored = storage_for(settings).get(row.storage_key)
    assert row.size_bytes == len(stored)
    assert row.sha256 == hashlib.sha256(stored).hexdigest()
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG"
    assert image.size == (48, 64)  # turned upright, so the orientation tag is not needed
    assert not image.getexif()
    assert "exif" not in image.info
    assert b"Exif" not in stored
    assert b"PhoneMaker" not in stored

    fetched = client.get(body["cover_url"], headers=organizer.headers)
    assert fetched.status_code == 200
    assert fetched.content == stored
    assert fetched.headers["content-type"] == "image/jpeg"
    assert fetched.headers["cache-control"] == "private, no-cache"


def test_png_cover_is_stored_as_jpeg_and_transparency_as_webp(
    client: TestClient, db: Database, settings: Settings, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    opaque = _upload(client, organizer, event["id"], image_bytes("PNG", (80, 60)))
    row = _file(db, opaque["cover_file_id"])
    assert row is not None
    assert row.content_type == "image/jpeg"
    assert row.storage_key.endswith(".jpg")

    translucent = image_bytes("PNG", (80, 60), alpha=True)
    image = Image.open(io.BytesIO(translucent))
    image.putalpha(Image.linear_gradient("L").resize((80, 60)))
    out = io.BytesIO()
    image.save(out, "PNG")
    clear = _upload(client, organizer, event["id"], out.getvalue())
    row = _file(db, clear["cover_file_id"])
    assert row is not None
    assert row.content_type == "image/webp"
    stored = Image.open(io.BytesIO(storage_for(settings).get(row.storage_key)))
    assert (stored.format, stored.mode, stored.size) == ("WEBP", "RGBA", (80, 60))


def test_webp_upload_is_accepted_whatever_content_type_the_client_claims(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    resp = _put(
        client,
        event["id"],
        organizer.headers,
        image_bytes("WEBP", (40, 30)),
        filename="notes.txt",
        content_type="text/plain",
    )
    assert resp.status_code == 200, resp.text


def test_large_image_is_scaled_down_to_2400_pixels_on_its_long_side(
    client: TestClient, db: Database, settings: Settings, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    body = _upload(client, organizer, event["id"], image_bytes("PNG", (3000, 1000)))
    row = _file(db, body["cover_file_id"])
    assert row is not None
    stored = Image.open(io.BytesIO(storage_for(settings).get(row.storage_key)))
    assert stored.size == (2400, 800)


# --- refusals -------------------------------------------------------------------------------


def test_decompression_bomb_is_refused_from_its_header(
    client: TestClient, settings: Settings, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    bomb = _put(client, event["id"], organizer.headers, _png_header(50_000, 50_000))
    assert bomb.status_code == 422
    assert bomb.json()["code"] == "image_too_large"
    # Just over 40 megapixels: below Pillow's own limit, refused by ours before decoding.
    over = _put(client, event["id"], organizer.headers, _png_header(8000, 5001))
    assert over.status_code == 422
    assert over.json()["code"] == "image_too_large"
    assert (over.json()["width"], over.json()["height"]) == (8000, 5001)
    assert _stored_files(settings) == []


def test_truncated_or_undecodable_file_is_invalid_image(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    jpeg = image_bytes("JPEG", (200, 150))
    png = image_bytes("PNG", (200, 150))
    for data in (jpeg[: len(jpeg) // 2], png[: len(png) // 2], b"just some text\n" * 10, b""):
        resp = _put(client, event["id"], organizer.headers, data)
        assert resp.status_code == 422, resp.text
        assert resp.json()["code"] == "invalid_image"


def test_gif_is_an_unsupported_image_type_even_when_sent_as_jpeg(
    client: TestClient, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    for fmt in ("GIF", "BMP"):
        resp = _put(client, event["id"], organizer.headers, image_bytes(fmt, (20, 20)))
        assert resp.status_code == 415, resp.text
        assert resp.json()["code"] == "unsupported_image_type"
        assert resp.json()["format"] == fmt


def test_upload_over_8_mib_is_413_file_too_large(
    client: TestClient, settings: Settings, organizer: Organizer
) -> None:
    assert settings.max_upload_bytes == 8 * MiB
    event = create_event(client, organizer)
    just_over = _put(client, event["id"], organizer.headers, b"\xff" * (8 * MiB + 1))
    assert just_over.status_code == 413
    assert just_over.json()["code"] == "file_too_large"
    # Far over: cut off by the body limit before the route reads it, with the same answer.
    far_over = _put(client, event["id"], organizer.headers, b"\xff" * (9 * MiB))
    assert far_over.status_code == 413
    assert far_over.json()["code"] == "file_too_large"
    # The 1 MB limit of other routes does not apply to the upload: noise does not compress.
    noise = Image.frombytes("RGB", (800, 800), os.urandom(800 * 800 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")
    assert len(out.getvalue()) > settings.max_body_bytes
    large = _put(client, event["id"], organizer.headers, out.getvalue())
    assert large.status_code == 200, large.text


def test_upload_limit_is_a_setting_and_inclusive(
    db: Database, settings: Settings, organizer: Organizer
) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 100_000})
    with TestClient(create_app(small, db, run_worker=False)) as client:
        event = create_event(client, organizer)
        at_limit = _put(client, event["id"], organizer.headers, b"x" * 100_000)
        assert at_limit.json()["code"] == "invalid_image"  # read whole, then judged
        over = _put(client, event["id"], organizer.headers, b"x" * 100_001)
        assert (over.status_code, over.json()["code"]) == (413, "file_too_large")

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="c.jpg"\r\n\r\n'
            for _ in range(20):
                yield b"x" * 10_000
            yield b"\r\n--b--\r\n"

        streamed = client.put(
            f"/api/v1/events/{event['id']}/cover",
            content=chunked(),
            headers={**organizer.headers, "content-type": "multipart/form-data; boundary=b"},
        )
        assert (streamed.status_code, streamed.json()["code"]) == (413, "file_too_large")


def test_missing_file_field_is_a_validation_error(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)
    resp = client.put(
        f"/api/v1/events/{event['id']}/cover",
        data={"other": "x"},
        files={"picture": ("c.jpg", image_bytes(), "image/jpeg")},
        headers=organizer.headers,
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"


# --- access ---------------------------------------------------------------------------------


def test_anonymous_upload_is_401(client: TestClient, organizer: Organizer) -> None:
    event = create_event(client, organizer)
    resp = _put(client, event["id"], {}, image_bytes())
    assert resp.status_code == 401
    assert resp.json()["code"] == "unauthorized"


def test_door_staff_cannot_change_the_cover_but_may_see_it(
    client: TestClient, settings: Settings, organizer: Organizer, member_headers: Any
) -> None:
    event = create_event(client, organizer)
    _upload(client, organizer, event["id"], image_bytes())
    door = member_headers("door_staff")
    for resp in (
        _put(client, event["id"], door, image_bytes()),
        client.delete(f"/api/v1/events/{event['id']}/cover", headers=door),
    ):
        assert resp.status_code == 403
        assert resp.json()["code"] == "capability_required"
        assert resp.json()["capability"] == "event.update"
    assert len(_stored_files(settings)) == 1  # the refused upload stored nothing
    assert client.get(f"/api/v1/events/{event['id']}/cover", headers=door).status_code == 200


def test_another_organization_gets_404(
    client: TestClient, organizer: Organizer, stranger_headers: dict[str, str]
) -> None:
    event = create_event(client, organizer)
    _upload(client, organizer, event["id"], image_bytes())
    for resp in (
        _put(client, event["id"], stranger_headers, image_bytes()),
        client.delete(f"/api/v1/events/{event['id']}/cover", headers=stranger_headers),
        client.get(f"/api/v1/events/{event['id']}/cover", headers=stranger_headers),
    ):
        assert resp.status_code == 404
        assert resp.json()["code"] == "event_not_found"


def test_cancelled_event_cover_is_read_only(
    client: TestClient, settings: Settings, organizer: Organizer
) -> None:
    event = create_event(client, organizer)
    first = _upload(client, organizer, event["id"], image_bytes())
    cancelled = client.post(f"/api/v1/events/{event['id']}/cancel", headers=organizer.headers)
    assert cancelled.status_code == 200
    before = _stored_files(settings)
    for resp in (
        _put(client, event["id"], organizer.headers, image_bytes("PNG")),
        client.delete(f"/api/v1/events/{event['id']}/cover", headers=organizer.headers),
    ):
        assert resp.status_code == 409
        assert resp.json()["code"] == "event_not_editable"
    assert _stored_files(settings) == before
    got = client.get(f"/api/v1/events/{event['id']}", headers=organizer.headers).json()
    assert got["cover_file_id"] == first["cover_file_id"]


# --- replacing and removing -----------------------------------------------------------------


def test_replacing_the_cover_deletes_the_old_blob_only_after_the_commit(
    client: TestClient, db: Database, settings: Settings, organizer: Organizer, run_jobs: Any
) -> None:
    event = create_event(client, organizer)
    first = _upload(client, organizer, event["id"], image_bytes("JPEG", (30, 20)))
    old = _file(db, first["cover_file_id"])
    assert old is not None

    second = _upload(client, organizer, event["id"], image_bytes("PNG", (40, 20)))
    assert second["cover_file_id"] != first["cover_file_id"]
    new = _file(db, second["cover_file_id"])
    assert new is not None
    assert _file(db, first["cover_file_id"]) is None  # the row went with the commit
    assert _blob_exists(settings, old.storage_key)  # the blob waits for the job
    assert run_jobs() >= 1
    assert not _blob_exists(settings, old.storage_key)
    assert _blob_exists(settings, new.storage_key)
    assert _stored_files(settings) == [new.storage_key]

    actions = db.query(
        lambda s: list(
            s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target_id == event["id"])
                .order_by(AuditEntry.created_at, AuditEntry.id)
            )
        )
    )
    assert actions.count("event_cover.updated") == 2


def test_removing_the_cover_returns_the_event_and_deletes_the_blob_after_commit(
    client: TestClient, db: Database, settings: Settings, organizer: Organizer, run_jobs: Any
) -> None:
    event = create_event(client, organizer)
    body = _upload(client, organizer, event["id"], image_bytes())
    row = _file(db, body["cover_file_id"])
    assert row is not None

    resp = client.delete(f"/api/v1/events/{event['id']}/cover", headers=organizer.headers)
    assert resp.status_code == 200
    assert (resp.json()["cover_file_id"], resp.json()["cover_url"]) == (None, None)
    assert _blob_exists(settings, row.storage_key)
    run_jobs()
    assert _stored_files(settings) == []
    again = client.delete(f"/api/v1/events/{event['id']}/cover", headers=organizer.headers)
    assert again.status_code == 200
    missing = client.get(f"/api/v1/events/{event['id']}/cover", headers=organizer.headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "cover_not_found")
    removed = db.query(
        lambda s: s.scalars(
            select(AuditEntry).where(
                AuditEntry.target_id == event["id"], AuditEntry.action == "event_cover.removed"
            )
        ).one()
    )
    assert removed.before == {"cover_file_id": body["cover_file_id"]}


def test_a_cover_shared_by_two_events_survives_until_neither_uses_it(
    client: TestClient, db: Database, settings: Settings, organizer: Organizer, run_jobs: Any
) -> None:
    first = create_event(client, organizer)
    second = create_event(client, organizer)
    cover = _upload(client, organizer, first["id"], image_bytes())["cover_file_id"]
    shared = client.patch(
        f"/api/v1/events/{second['id']}", json={"cover_file_id": cover}, headers=organizer.headers
    )
    assert shared.status_code == 200, shared.text
    assert shared.json()["cover_url"] == f"/api/v1/events/{second['id']}/cover"

    _upload(client, organizer, first["id"], image_bytes("PNG"))  # the first moves on
    run_jobs()
    row = _file(db, cover)
    assert row is not None
    assert _blob_exists(settings, row.storage_key)

    cleared = client.patch(
        f"/api/v1/events/{second['id']}", json={"cover_file_id": None}, headers=organizer.headers
    )
    assert cleared.status_code == 200
    run_jobs()
    assert _file(db, cover) is None
    assert not _blob_exists(settings, row.storage_key)


def test_cover_file_of_another_organization_cannot_be_borrowed(
    client: TestClient, db: Database, settings: Settings, organizer: Organizer
) -> None:
    with db.session() as s:
        user = make_user(s)
        other = Organizer(user, make_organization(s, user), auth_headers(s, settings, user))
    theirs = create_event(client, other)
    cover = _upload(client, other, theirs["id"], image_bytes())["cover_file_id"]
    mine = create_event(client, organizer)
    for resp in (
        client.patch(
            f"/api/v1/events/{mine['id']}", json={"cover_file_id": cover}, headers=organizer.headers
        ),
        client.post(
            f"/api/v1/organizations/{organizer.org.id}/events",
            json=event_body(cover_file_id=cover),
            headers=organizer.headers,
        ),
    ):
        assert resp.status_code == 422
        assert resp.json()["code"] == "unknown_file"


# --- the public cover -----------------------------------------------------------------------


def test_public_cover_is_served_with_etag_and_answers_304(
    client: TestClient, db: Database, organizer: Organizer
) -> None:
    event = published_event(client, organizer)
    body = _upload(client, organizer, event["id"], image_bytes())
    row = _file(db, body["cover_file_id"])
    assert row is not None

    page = client.get(f"/api/v1/public/events/{event['slug']}").json()
    assert page["cover_file_id"] == body["cover_file_id"]
    assert page["cover_url"] == f"/api/v1/public/events/{event['slug']}/cover"

    resp = client.get(page["cover_url"])
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/jpeg"
    assert resp.headers["etag"] == f'"{row.sha256}"'
    assert resp.headers["cache-control"] == "public, max-age=300"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert int(resp.headers["content-length"]) == row.size_bytes == len(resp.content)
    assert hashlib.sha256(resp.content).hexdigest() == row.sha256

    for tag in (
        resp.headers["etag"],
        f"W/{resp.headers['etag']}",
        f'"other", {resp.headers["etag"]}',
    ):
        cached = client.get(page["cover_url"], headers={"If-None-Match": tag})
        assert cached.status_code == 304
        assert cached.content == b""
        assert cached.headers["etag"] == resp.headers["etag"]
    stale = client.get(page["cover_url"], headers={"If-None-Match": '"0000"'})
    assert stale.status_code == 200


def test_public_cover_follows_the_public_page(client: TestClient, organizer: Organizer) -> None:
    draft = create_event(client, organizer)
    _upload(client, organizer, draft["id"], image_bytes())
    resp = client.get(f"/api/v1/public/events/{draft['slug']}/cover")
    assert (resp.status_code, resp.json()["code"]) == (404, "event_not_found")
    # The organizer still sees the draft's cover.
    assert client.get(f"/api/v1/events/{draft['id']}/cover", headers=organizer.headers).is_success

    private = published_event(client, organizer, visibility="private")
    _upload(client, organizer, private["id"], image_bytes())
    assert client.get(f"/api/v1/public/events/{private['slug']}/cover").status_code == 404

    bare = published_event(client, organizer)
    resp = client.get(f"/api/v1/public/events/{bare['slug']}/cover")
    assert (resp.status_code, resp.json()["code"]) == (404, "cover_not_found")
    assert client.get(f"/api/v1/public/events/{bare['slug']}").json()["cover_url"] is None

    cancelled = published_event(client, organizer)
    _upload(client, organizer, cancelled["id"], image_bytes())
    client.post(f"/api/v1/events/{cancelled['id']}/cancel", headers=organizer.headers)
    assert client.get(f"/api/v1/public/events/{cancelled['slug']}/cover").status_code == 200
