"""DP batches: one worker and two workers rendering a batch, next to the bare render loop,
in one run.

    .venv/bin/python bench/dp_batch.py [--n 500] [--rounds 1] [--mp 3] \
        [--pg postgresql://root@127.0.0.1:5432/test]

* bare: `open_photo` + `render_dp` over the batch's photos in a loop, in this process (the
  frame decoded once): no database, no zip, no storage: the ceiling for one core.
* 1 worker / 2 workers: a batch of `--n` rows (a CSV and a zip of `--mp`-megapixel JPEGs,
  uploaded through `batches.create_batch`) rendered by that many worker *processes* running
  the job loop (`jobs.claim` + `jobs.run_claimed`, polling every 50 ms) against a scratch
  PostgreSQL database, timed from the batch's commit to `completed`. The workers are
  started (and have imported everything and rendered one picture) before the batch exists;
  the bare loop renders one picture before it is timed.

Targets: 1 worker >= 0.85x the bare loop's rows/s, 2 workers >= 1.7x one worker. The box is
shared: wall-clock rows/s move with other load, so the CPU time per row (bare: this
process; workers: their processes) and the load average are printed beside them, with the
minor page faults per row (a worker that faults its image memory in again for every row
spends it as system CPU).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from bench.dp import LAYOUT, synthetic_photo, template_frame  # noqa: E402
from bench.harness import create_database, proc_tree_cpu  # noqa: E402

WORKER_POLL_SECONDS = 0.05


def make_settings(var_dir: str, url: str) -> Any:
    from admitone.settings import Settings

    return Settings(
        env="dev",
        var_dir=Path(var_dir),
        database_url=url,
        secret_key=SecretStr("bench-secret-key-0123456789abcdef"),
        cron_secret=SecretStr("bench-cron-secret"),
        run_worker_in_process=False,
    )


def worker_main(var_dir: str, url: str, worker_id: str, ready: Any, stop: Any) -> None:
    """One worker process: the job loop, without crons."""
    from admitone.core import jobs
    from admitone.core.db import Database, make_engine
    from admitone.domains import load_jobs, load_models

    load_models()
    load_jobs()
    settings = make_settings(var_dir, url)
    db = Database(make_engine(url))
    warm_up()
    ready.set()
    while not stop.is_set():
        claimed = jobs.claim(db, worker_id, limit=50)
        if claimed:
            jobs.run_claimed(db, settings, worker_id, claimed)
        else:
            stop.wait(WORKER_POLL_SECONDS)


def warm_up() -> None:
    """One render and one text check, so that a process measures its steady state: the
    fonts, Pillow's codecs and the word lists are loaded once per process, as in a worker
    that has been running."""
    from admitone.dp.render import load_frame, open_photo, parse_layout, render_dp

    layout = parse_layout(LAYOUT)
    photo = synthetic_photo(99, rotate_exif=False, width=400, height=300)
    image = open_photo(photo, cover=layout.photo.size)
    render_dp(load_frame(template_frame(), layout), layout, image, {"name": "Warm Up"})
    from admitone.moderation import service as moderation
    from admitone.settings import ModerationSettings

    moderation.check_text(ModerationSettings(), "Warm Up")  # the word lists, compiled once


def photos(n_distinct: int, megapixels: float) -> list[bytes]:
    height = int((megapixels * 1_000_000 * 3 / 4) ** 0.5)
    width = int(height * 4 / 3)
    return [
        synthetic_photo(seed, rotate_exif=seed % 2 == 1, width=width, height=height)
        for seed in range(n_distinct)
    ]


def batch_upload(n: int, pictures: list[bytes]) -> tuple[bytes, bytes]:
    lines = ["name,title,photo"]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for i in range(n):
            name = f"photo-{i:04d}.jpg"
            z.writestr(name, pictures[i % len(pictures)])
            lines.append(f"Attendee {i},Speaker,{name}")
    return ("\n".join(lines) + "\n").encode(), out.getvalue()


def seed(db: Any, settings: Any) -> tuple[str, str, str]:
    """An organizer, a published campaign and its template; returns their ids."""
    from admitone.core.files import File
    from admitone.core.ids import DpCampaignId, DpTemplateId, FileId
    from admitone.dp.models import DpCampaign, DpTemplate
    from admitone.integrations.storage import storage_for
    from tests.factories import make_event, make_organization, make_user

    frame = template_frame()
    with db.session() as s:
        user = make_user(s)
        org = make_organization(s, user)
        event = make_event(s, org, status="published")
        cid, tid, fid = DpCampaignId.new(), DpTemplateId.new(), FileId.new()
        key = f"dp/frames/{cid}/{fid}.png"
        storage_for(settings).put(key, frame, "image/png")
        s.add(File(id=fid, storage_key=key, content_type="image/png", size_bytes=len(frame),
                   sha256=hashlib.sha256(frame).hexdigest()))  # fmt: skip
        s.add(DpCampaign(id=cid, organization_id=org.id, event_id=event.id, title="Bench",
                         slug=f"bench-{cid[-8:].lower()}", status="published"))  # fmt: skip
        s.flush()
        s.add(DpTemplate(id=tid, campaign_id=cid, name="Bench", frame_file_id=fid, layout=LAYOUT))
        return user.id, cid, tid


def minor_faults(pid: int) -> int:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return int(raw[raw.rindex(")") + 2 :].split()[7])  # field 10, minflt


def bare_loop(pictures: list[bytes], n: int) -> dict[str, float]:
    from admitone.dp.render import load_frame, open_photo, parse_layout, render_dp

    layout = parse_layout(LAYOUT)
    frame = load_frame(template_frame(), layout)
    warm_up()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        image = open_photo(pictures[i % len(pictures)], cover=layout.photo.size)
        render_dp(frame, layout, image, {"name": f"Attendee {i}", "title": "Speaker"})
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {"rows_per_s": n / wall, "cpu_ms_per_row": 1000 * cpu / n, "faults_per_row": faults / n}


def workers_run(
    count: int, var_dir: str, url: str, upload: tuple[bytes, bytes], ids: tuple[str, str, str]
) -> dict[str, float]:
    from admitone.core.db import Database, make_engine
    from admitone.dp.models import DpBatch
    from admitone.dp.service import batches
    from admitone.integrations.storage import storage_for

    settings = make_settings(var_dir, url)
    db = Database(make_engine(url))
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    procs = []
    for w in range(count):
        ready = ctx.Event()
        proc = ctx.Process(target=worker_main, args=(var_dir, url, f"bench-{w}", ready, stop))
        proc.start()
        procs.append((proc, ready))
    for _, ready in procs:
        ready.wait(120)
    cpu_before = sum(proc_tree_cpu(p.pid or 0) for p, _ in procs)
    faults_before = sum(minor_faults(p.pid or 0) for p, _ in procs)
    user_id, campaign_id, template_id = ids
    csv_data, zip_data = upload
    batch = batches.create_batch(
        db, storage_for(settings), settings.dp, user_id=user_id, campaign_id=campaign_id,
        template_id=template_id, csv_data=csv_data, zip_data=zip_data,
    )  # fmt: skip
    start = time.perf_counter()
    while True:
        with db.session() as s:
            status = s.get(DpBatch, batch.batch.id, populate_existing=True).status  # type: ignore[union-attr]
        if status != "running":
            break
        time.sleep(0.02)
    wall = time.perf_counter() - start
    cpu = sum(proc_tree_cpu(p.pid or 0) for p, _ in procs) - cpu_before
    faults = sum(minor_faults(p.pid or 0) for p, _ in procs) - faults_before
    stop.set()
    for proc, _ in procs:
        proc.join(30)
    done = db.query(batches.progress, batch.batch.id)
    db.dispose()
    rows = done.counts["done"]
    assert rows == batch.batch.total, done.counts
    return {
        "rows_per_s": rows / wall,
        "cpu_ms_per_row": 1000 * cpu / rows,
        "faults_per_row": faults / rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500, help="rows in the batch")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--mp", type=float, default=3.0, help="megapixels per photo")
    parser.add_argument("--distinct", type=int, default=8, help="distinct photos, cycled")
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/test")
    args = parser.parse_args()

    from admitone.core.db import Database, make_engine
    from admitone.domains import load_jobs, load_models

    load_models()
    load_jobs()
    load_before = os.getloadavg()
    pictures = photos(args.distinct, args.mp)
    upload = batch_upload(args.n, pictures)
    name = f"admitone_bench_batch_{uuid.uuid4().hex[:6]}"
    url = create_database(args.pg, name)
    results: dict[str, list[dict[str, float]]] = {"bare": [], "one_worker": [], "two_workers": []}
    with tempfile.TemporaryDirectory() as var_dir:
        settings = make_settings(var_dir, url)
        db = Database(make_engine(url))
        ids = seed(db, settings)
        db.dispose()
        for _ in range(args.rounds):  # interleaved, so they share the box's noise
            results["bare"].append(bare_loop(pictures, args.n))
            results["one_worker"].append(workers_run(1, var_dir, url, upload, ids))
            results["two_workers"].append(workers_run(2, var_dir, url, upload, ids))

    def median(key: str, field: str) -> float:
        return round(statistics.median(r[field] for r in results[key]), 2)

    summary: dict[str, Any] = {
        "rows": args.n,
        "photo_megapixels": args.mp,
        "rounds": args.rounds,
        **{f"{k}_rows_per_s": median(k, "rows_per_s") for k in results},
        **{f"{k}_cpu_ms_per_row": median(k, "cpu_ms_per_row") for k in results},
        **{f"{k}_minor_faults_per_row": median(k, "faults_per_row") for k in results},
    }
    summary["one_worker_vs_bare"] = round(
        summary["one_worker_rows_per_s"] / summary["bare_rows_per_s"], 2
    )
    summary["two_vs_one_worker"] = round(
        summary["two_workers_rows_per_s"] / summary["one_worker_rows_per_s"], 2
    )
    summary["loadavg_before"] = [round(x, 2) for x in load_before]
    summary["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(summary, indent=2))
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
