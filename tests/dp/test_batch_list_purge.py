"""A campaign's list of batches for its managers, and the retention purge of finished
batches' files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from admitone.core import jobs
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.files import File
from admitone.dp.models import DpBatch, DpBatchRow
from admitone.dp.service import batch_purge
from admitone.integrations.storage import LocalStorage, StorageError, storage_for
from admitone.orgs.models import Organization
from admitone.settings import Settings
from tests.dp.batch_helpers import csv_bytes, get_batch, photos_zip, post_batch
from tests.dp.conftest import World
from tests.factories import add_team_member, auth_headers, make_user


def _start(client: TestClient, world: World, *names: str) -> dict[str, Any]:
    csv = csv_bytes(*(f"P {i},Guest,{n}" for i, n in enumerate(names)))
    r = post_batch(
        client, world.campaign["id"], world.template["id"], csv, photos_zip(*names), world.headers
    )
    assert r.status_code == 202, r.text
    return dict(r.json())


def test_managers_list_a_campaigns_batches_newest_first_with_their_progress(
    client: TestClient, world: World, db: Database, settings: Settings, run_jobs: Any
) -> None:
    first = _start(client, world, "a.jpg", "b.jpg")
    run_jobs()
    second = _start(client, world, "c.jpg")
    third = _start(client, world, "d.jpg", "e.jpg", "f.jpg")
    url = f"/api/v1/dp-campaigns/{world.campaign['id']}/batches"

    page = client.get(url, params={"limit": 2}, headers=world.headers)
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert [b["id"] for b in items] == [third["id"], second["id"]]
    assert (items[0]["status"], items[0]["total"], items[0]["pending"]) == ("running", 3, 3)
    rest = client.get(
        url, params={"limit": 2, "cursor": page.json()["next_cursor"]}, headers=world.headers
    ).json()
    assert [b["id"] for b in rest["items"]] == [first["id"]]
    assert rest["next_cursor"] is None
    done = rest["items"][0]
    assert (done["status"], done["done"], done["pending"], done["purged_at"]) == (
        "completed", 2, 0, None,
    )  # fmt: skip
    assert done["download_url"]

    with db.session() as s:
        stranger = auth_headers(s, settings, make_user(s))
        org = s.get(Organization, world.event.organization_id)
        assert org is not None
        viewer_user = make_user(s)
        add_team_member(s, org, viewer_user, "viewer")
        viewer = auth_headers(s, settings, viewer_user)
    hidden = client.get(url, headers=stranger)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "dp_campaign_not_found")
    denied = client.get(url, headers=viewer)
    assert (denied.status_code, denied.json()["code"]) == (403, "capability_required")
    assert client.get(url).status_code == 401
    bad = client.get(url, params={"cursor": "!!"}, headers=world.headers)
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_cursor")


def _files_of(db: Database, batch_id: str) -> list[str]:
    with db.session() as s:
        photos = s.scalar(select(DpBatch.photos_file_id).where(DpBatch.id == batch_id))
        outputs = s.scalars(
            select(DpBatchRow.output_file_id).where(
                DpBatchRow.batch_id == batch_id, DpBatchRow.output_file_id.is_not(None)
            )
        ).all()
        ids = [i for i in [photos, *outputs] if i is not None]
        return sorted(s.scalars(select(File.storage_key).where(File.id.in_(ids))))


def test_a_finished_batchs_files_are_purged_after_the_retention(
    client: TestClient, world: World, db: Database, settings: Settings, run_jobs: Any
) -> None:
    assert batch_purge.PURGE_JOB in jobs.registered_crons()
    old = _start(client, world, "a.jpg", "b.jpg")
    other = _start(client, world, "c.jpg")
    run_jobs()
    recent = _start(client, world, "d.jpg")
    run_jobs()
    keys = _files_of(db, old["id"])
    assert len(keys) == 3  # the zip and two pictures
    store = settings.var_dir / "files"
    assert all((store / k).exists() for k in keys)

    storage = storage_for(settings)
    now = utcnow() + timedelta(days=settings.dp.batch_retention_days, minutes=1)
    with db.session() as s:  # `recent` finished a day before `now`: still kept
        s.get(DpBatch, recent["id"]).finished_at = now - timedelta(days=1)  # type: ignore[union-attr]
    assert batch_purge.purge_batches(db, storage, settings.dp, now=now) == 2
    assert not any((store / k).exists() for k in keys)
    assert _files_of(db, old["id"]) == []
    assert _files_of(db, recent["id"]) != []
    batch = get_batch(client, old["id"], world.headers)
    assert batch["purged_at"] is not None
    assert (batch["status"], batch["done"], batch["download_url"]) == ("completed", 2, None)
    gone = client.get(f"/api/v1/dp-batches/{old['id']}/download", headers=world.headers)
    assert (gone.status_code, gone.json()["code"]) == (410, "dp_batch_purged")
    assert get_batch(client, other["id"], world.headers)["purged_at"] is not None
    assert batch_purge.purge_batches(db, storage, settings.dp, now=now) == 0  # once


class FailingOnce(LocalStorage):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.failed = False

    def delete(self, key: str) -> None:
        if not self.failed:
            self.failed = True
            raise StorageError("the store is down")
        super().delete(key)


def test_a_purge_that_stops_half_way_is_finished_by_the_next_run(
    client: TestClient, world: World, db: Database, settings: Settings, run_jobs: Any
) -> None:
    started = _start(client, world, "a.jpg", "b.jpg")
    run_jobs()
    keys = _files_of(db, started["id"])
    storage = FailingOnce(settings.var_dir / "files")
    now = utcnow() + timedelta(days=settings.dp.batch_retention_days, minutes=1)
    with pytest.raises(StorageError):
        batch_purge.purge_batches(db, storage, settings.dp, now=now)
    # Marked purged (no download from now on), its files still referenced: due again.
    assert get_batch(client, started["id"], world.headers)["purged_at"] is not None
    assert _files_of(db, started["id"]) == keys
    assert batch_purge.purge_batches(db, storage, settings.dp, now=now) == 1
    assert _files_of(db, started["id"]) == []
    assert not any((settings.var_dir / "files" / k).exists() for k in keys)
    with db.session() as s:
        assert s.scalar(select(File.id).where(File.storage_key.in_(keys))) is None
