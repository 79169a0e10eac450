"""DP batches on real commits: two workers share one batch (each row rendered once), and the
SSE stream pushes progress as the rows are recorded."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select

from admitone.core import jobs
from admitone.core.db import Database
from admitone.core.files import File
from admitone.core.jobs import Job
from admitone.dp.models import BatchStatus, DpBatch, DpBatchRow
from admitone.dp.service import batch_render
from admitone.settings import Settings
from tests.dp.batch_helpers import csv_bytes, photos_zip
from tests.dp.conftest import Served, served_world


def _worker_loop(db: Database, settings: Settings, worker_id: str, stop: threading.Event) -> None:
    """What `jobs.Worker.run_forever` does, without the crons: claim due jobs, run them."""
    while not stop.is_set():
        claimed = jobs.claim(db, worker_id, limit=50)
        if claimed:
            jobs.run_claimed(db, settings, worker_id, claimed)
        else:
            stop.wait(0.02)


def _post(served: Served, csv: bytes, photos: bytes) -> dict[str, Any]:
    world = served_world(served)
    with httpx.Client(base_url=served.url, timeout=60) as http:
        r = http.post(
            f"/api/v1/dp-campaigns/{world.campaign['id']}/batches",
            files={
                "csv": ("p.csv", csv, "text/csv"),
                "photos": ("p.zip", photos, "application/zip"),
            },
            data={"template_id": world.template["id"]},
            headers=world.headers,
        )
    assert r.status_code == 202, r.text
    return {**r.json(), "headers": world.headers}


@pytest.mark.postgres
@pytest.mark.committed
def test_two_workers_share_one_batch_and_render_each_row_once(served: Served) -> None:
    settings = served.settings
    settings.dp.batch_chunk_rows = 2
    # This worker's committed database may hold jobs earlier committed tests left queued (a
    # delivery to a server long gone): the two workers would claim those first and spend
    # their timeouts on them. The queue starts empty, so they run this batch's lanes only.
    served.db.mutation(lambda s: s.execute(delete(Job)))
    names = [f"p{i}.jpg" for i in range(60)]
    batch = _post(
        served, csv_bytes(*(f"P {i},Guest,{n}" for i, n in enumerate(names))), photos_zip(*names)
    )
    stop = threading.Event()
    workers = [
        threading.Thread(target=_worker_loop, args=(served.db, settings, w, stop))
        for w in ("worker-a", "worker-b")
    ]
    for t in workers:
        t.start()
    deadline = time.monotonic() + 300  # a bound for a loaded box, not a timing
    try:
        while time.monotonic() < deadline:
            with served.db.session() as s:
                if s.get(DpBatch, batch["id"], populate_existing=True).status != "running":  # type: ignore[union-attr]
                    break
            time.sleep(0.1)
    finally:
        stop.set()
        for t in workers:
            t.join(60)
    with served.db.session() as s:
        status = s.get(DpBatch, batch["id"]).status  # type: ignore[union-attr]
        # On a failure, say what the queue held (a lane failing, or only slow on a loaded box).
        queue = [
            (j.name, j.status, j.attempts, j.locked_by, j.last_error)
            for j in s.scalars(select(Job))
        ]
        assert status == BatchStatus.COMPLETED, queue
        rows = s.scalars(select(DpBatchRow).where(DpBatchRow.batch_id == batch["id"])).all()
        assert len(rows) == 60
        assert {r.status for r in rows} == {"done"}
        assert {r.claims for r in rows} == {1}  # claimed, so rendered, exactly once
        outputs = s.scalars(
            select(File.storage_key).where(File.id.in_([r.output_file_id for r in rows]))
        ).all()
        assert len(set(outputs)) == 60
        lanes = {
            str(job.id): job.locked_by
            for job in s.scalars(select(Job).where(Job.name == batch_render.LANE_JOB))
        }
    by_worker: dict[str, int] = {}
    for r in rows:
        worker = lanes[str(r.claimed_by).split(":")[0]]
        by_worker[str(worker)] = by_worker.get(str(worker), 0) + 1
    assert set(by_worker) == {"worker-a", "worker-b"}, by_worker


def _updates(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.startswith("data:"):
            yield json.loads(line.removeprefix("data:").strip())


@pytest.mark.committed
def test_the_stream_pushes_progress_until_the_batch_completes(served: Served) -> None:
    names = ["a.jpg", "b.jpg", "c.jpg"]
    batch = _post(served, csv_bytes(*(f"P {n},Guest,{n}" for n in names)), photos_zip(*names))
    url = f"/api/v1/dp-batches/{batch['id']}/stream"
    with (
        httpx.Client(base_url=served.url, timeout=30) as http,
        http.stream("GET", url, headers=batch["headers"]) as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        updates = _updates(stream.iter_lines())
        first = next(updates)
        assert (first["status"], first["done"], first["pending"]) == ("running", 0, 3)
        threading.Thread(target=jobs.drain, args=(served.db, served.settings), daemon=True).start()
        seen = [first]
        while seen[-1]["status"] == "running":
            seen.append(next(updates))
    last = seen[-1]
    assert (last["status"], last["done"], last["failed"]) == ("completed", 3, 0)
    assert last["download_url"].endswith(f"/api/v1/dp-batches/{batch['id']}/download")
