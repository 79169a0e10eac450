"""The block-list through the platform: moderators block an image, the support service's
checks refuse its copies; the per-process copy of the list follows other processes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from admitone.access.models import AuditEntry
from admitone.app import create_app
from admitone.core.db import Database, make_engine
from admitone.integrations.moderation import Decision
from admitone.moderation import service
from admitone.moderation.models import BlockedImageHash, BlockSource
from admitone.settings import ModerationSettings, Settings
from tests.factories import (
    auth_headers,
    grant_platform_role,
    make_organization,
    make_user,
)
from tests.moderation.photos import encode, jpeg, photo

BLOCKLIST = "/api/v1/moderation/blocklist"
CHECK_IMAGE = "/support/v1/moderation/image"
CHECK_TEXT = "/support/v1/moderation/text"


@pytest.fixture
def people(db: Database, settings: Settings) -> dict[str, dict[str, str]]:
    with db.session() as s:
        moderator = make_user(s)
        grant_platform_role(s, moderator, "moderator")
        support = make_user(s)
        grant_platform_role(s, support, "support")
        owner = make_user(s)
        make_organization(s, owner)
        return {
            "moderator": auth_headers(s, settings, moderator),
            "support": auth_headers(s, settings, support),
            "owner": auth_headers(s, settings, owner),
            "moderator_id": {"id": moderator.id},
        }


def _file(data: bytes, name: str = "photo.jpg", kind: str = "image/jpeg") -> dict[str, Any]:
    return {"file": (name, data, kind)}


def test_a_blocked_image_refuses_its_copies_and_lets_other_photos_pass(
    client: TestClient, db: Database, people: dict[str, dict[str, str]]
) -> None:
    original = jpeg(21, (1600, 1200))
    resp = client.post(
        BLOCKLIST, files=_file(original), data={"reason": "known abuse image"},
        headers=people["moderator"],
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["created"] is True
    assert body["source"] == "upload"
    assert body["reason"] == "known abuse image"
    assert len(body["hash"]) == 16
    with db.session() as s:
        entry = s.scalar(select(BlockedImageHash))
        assert entry is not None
        assert f"{entry.hash & (2**64 - 1):016x}" == body["hash"]
        audit = s.scalar(select(AuditEntry).where(AuditEntry.action == "image_hash.blocked"))
        assert audit is not None
        assert audit.target_id == body["id"]
        assert audit.actor_user_id == people["moderator_id"]["id"]

    copy = encode(photo(21, (1600, 1200)).resize((640, 480)), "JPEG", quality=40)
    as_webp = encode(photo(21, (1600, 1200)), "WEBP", quality=60)
    for data, kind in ((copy, "image/jpeg"), (as_webp, "image/webp")):
        verdict = client.post(CHECK_IMAGE, files=_file(data, kind=kind), headers=people["owner"])
        assert verdict.status_code == 200, verdict.text
        assert verdict.json()["verdict"] == "block"
        assert verdict.json()["reasons"] == ["image_blocklisted"]
    other = client.post(CHECK_IMAGE, files=_file(jpeg(22)), headers=people["owner"])
    assert other.status_code == 200
    assert "image_blocklisted" not in other.json()["reasons"]
    assert other.json()["verdict"] in ("allow", "review")  # the classifier may ask a person

    again = client.post(BLOCKLIST, files=_file(copy), headers=people["moderator"])
    assert (again.status_code, again.json()["created"]) == (200, False)
    assert again.json()["id"] == body["id"]


def test_only_platform_moderators_block(
    client: TestClient, db: Database, people: dict[str, dict[str, str]]
) -> None:
    data = jpeg(23)
    support = client.post(BLOCKLIST, files=_file(data), headers=people["support"])
    assert (support.status_code, support.json()["code"]) == (403, "capability_required")
    assert support.json()["capability"] == "dp.moderate"
    assert client.post(BLOCKLIST, files=_file(data), headers=people["owner"]).status_code == 404
    assert client.post(BLOCKLIST, files=_file(data)).status_code == 401
    with db.session() as s:
        assert s.scalar(select(BlockedImageHash)) is None


@pytest.mark.parametrize(
    ("data", "name", "kind", "status", "code"),
    [
        (b"%PDF-1.7 not an image", "x.pdf", "application/pdf", 422, "invalid_image"),
        (encode(photo(1, (64, 48)), "GIF"), "x.gif", "image/gif", 415, "unsupported_image_type"),
        (encode(photo(1, (64, 48)), "BMP"), "x.bmp", "image/bmp", 415, "unsupported_image_type"),
        (jpeg(1)[:400], "x.jpg", "image/jpeg", 422, "invalid_image"),
    ],
)
def test_hostile_uploads_get_the_usual_refusals(
    client: TestClient, people: dict[str, dict[str, str]],
    data: bytes, name: str, kind: str, status: int, code: str,
) -> None:  # fmt: skip
    for url, who in ((CHECK_IMAGE, "owner"), (BLOCKLIST, "moderator")):
        resp = client.post(url, files=_file(data, name, kind), headers=people[who])
        assert (resp.status_code, resp.json()["code"]) == (status, code), url


def test_a_decompression_bomb_and_an_oversized_file_are_refused(
    settings: Settings, db: Database, people: dict[str, dict[str, str]]
) -> None:
    from PIL import Image

    small = settings.model_copy(update={"max_upload_bytes": 200_000})
    with TestClient(create_app(small, db, run_worker=False)) as client:
        bomb = encode(Image.new("1", (12_000, 12_000)), "PNG")
        resp = client.post(CHECK_IMAGE, files=_file(bomb, "b.png", "image/png"),
                           headers=people["owner"])  # fmt: skip
        assert (resp.status_code, resp.json()["code"]) == (422, "image_too_large")
        big = b"\xff\xd8\xff" + b"\0" * 300_000
        resp = client.post(CHECK_IMAGE, files=_file(big), headers=people["owner"])
        assert (resp.status_code, resp.json()["code"]) == (413, "file_too_large")


def test_text_checks(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    def check(text: str) -> Any:
        resp = client.post(CHECK_TEXT, json={"text": text}, headers=people["owner"])
        assert resp.status_code == 200, resp.text
        return resp.json()

    assert check("Ada Lovelace") == {"verdict": "allow", "reasons": [], "skipped": []}
    assert check("sh1t head")["verdict"] == "block"
    assert check("damn")["verdict"] == "review"
    assert check("Scunthorpe")["verdict"] == "allow"
    too_long = client.post(CHECK_TEXT, json={"text": "a" * 2001}, headers=people["owner"])
    assert too_long.status_code == 422
    assert client.post(CHECK_TEXT, json={"text": "x"}).status_code == 401


def test_check_image_service_reads_the_current_list(db: Database, settings: Settings) -> None:
    """The call the dp domain makes: check_image(session, settings, bytes) -> Verdict."""
    mod = settings.moderation.model_copy(update={"image_checks": ["hash_blocklist"]})
    data = jpeg(24)
    assert db.query(service.check_image, mod, data).decision is Decision.ALLOW
    with db.session() as s:
        user = make_user(s)
        grant_platform_role(s, user, "moderator")
    h = service.image_hash_of(mod, data)
    entry, created = db.mutation(service.block_image, user.id, h, source=BlockSource.DP,
                                 source_id="dpg_x", reason="reported")  # fmt: skip
    assert created
    assert entry.source is BlockSource.DP
    verdict = db.query(service.check_image, mod, data)
    assert (verdict.decision, verdict.reasons) == (Decision.BLOCK, ["image_blocklisted"])
    assert service.check_text(mod, "Ada").decision is Decision.ALLOW


# --- across processes -------------------------------------------------------------------------


@pytest.fixture
def other_process(committed_db: Database, engine: Engine) -> Iterator[Database]:
    """A second handle on the same database with its own engine and pool: to the per-process
    cache it is another process."""
    other = make_engine(engine.url.render_as_string(hide_password=False))
    yield Database(other)
    other.dispose()


def test_the_list_follows_changes_made_by_another_process(
    committed_db: Database, other_process: Database
) -> None:
    with committed_db.session() as s:
        moderator = make_user(s)
        grant_platform_role(s, moderator, "moderator")
    eager = ModerationSettings(blocklist_check_seconds=0)
    lazy = ModerationSettings(blocklist_check_seconds=3600)
    assert len(committed_db.query(service.blocked_hashes, lazy)) == 0
    other_process.mutation(service.block_image, moderator.id, 12345)
    # Within the check interval this process keeps its copy; past it, it sees the change.
    assert len(committed_db.query(service.blocked_hashes, lazy)) == 0
    assert list(committed_db.query(service.blocked_hashes, eager)) == [12345]
    # A change made here is seen here at once, whatever the interval.
    committed_db.mutation(service.block_image, moderator.id, -(2**63))
    assert sorted(committed_db.query(service.blocked_hashes, lazy)) == [-(2**63), 12345]
    # A removal made elsewhere (the count changes) is seen too.
    with other_process.session() as s:
        s.delete(s.scalar(select(BlockedImageHash).where(BlockedImageHash.hash == 12345)))
    assert list(committed_db.query(service.blocked_hashes, eager)) == [-(2**63)]


@pytest.mark.postgres
def test_concurrent_blocks_of_one_hash_make_one_entry(
    committed_db: Database, other_process: Database
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with committed_db.session() as s:
        moderator = make_user(s)
        grant_platform_role(s, moderator, "moderator")
    dbs = [committed_db, other_process] * 4
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda d: d.mutation(service.block_image, moderator.id, 777), dbs))
    assert sum(created for _, created in results) == 1
    assert len({entry.id for entry, _ in results}) == 1
    with committed_db.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "image_hash.blocked"))
        assert len(list(rows)) == 1
