"""DP generation over HTTP next to the in-process render, in one run.

    .venv/bin/python bench/dp_http.py [--workers 2] [--clients 8] [--n 40]

Starts the app (uvicorn, `--workers` processes, on a scratch PostgreSQL database) with a
published campaign whose template is bench/dp.py's 1080x1080 frame and layout, then runs
bench/dp.py with `--procs <workers>` (the in-process render of that many worker processes at
once: the baseline) and its `http_generate` hook: `--clients` concurrent clients posting the
same 12 MP photos to `POST /api/v1/dp-campaigns/{id}/generate`. The ratio
`http_over_in_process_dps` is the target (>= 0.8): what HTTP, multipart parsing, the plan
query, storage and the record mutation cost on top of the render.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import dp as dp_bench  # noqa: E402  (bench/dp.py: the in-process baseline and its inputs)
from harness import create_database, start_server, stop_all_on_sigterm, stop_server  # noqa: E402

DB_NAME = "admitone_bench_dp_http"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(url: str, var_dir: str, base: str) -> tuple[str, str, dict[str, str]]:
    """An organizer, a published event, and a published campaign with the bench's template
    (made through the API of the running server); (campaign id, template id, headers)."""
    from admitone import domains
    from admitone.core.db import Database, make_engine
    from admitone.settings import load_settings
    from tests.factories import auth_headers, make_event, make_organization, make_user

    domains.load_models()
    os.environ["ADMITONE_VAR_DIR"] = var_dir
    os.environ["ADMITONE_BASE_URL"] = base  # tokens name their issuer
    settings = load_settings()  # the server's secrets: var_dir/secrets.json
    db = Database(make_engine(url))
    with db.session() as s:
        user = make_user(s)
        org = make_organization(s, user)
        event = make_event(s, org, status="published")
        headers = auth_headers(s, settings, user)
    db.dispose()
    folder = Path(tempfile.gettempdir()) / "admitone-dp"
    dp_bench.prepare(folder)
    with httpx.Client(base_url=base, timeout=60, headers=headers) as http:
        campaign = http.post(f"/api/v1/events/{event.id}/dp-campaigns", json={"title": "Bench"})
        if campaign.status_code != 201:
            raise SystemExit(f"campaign: {campaign.status_code} {campaign.text}")
        cid = campaign.json()["id"]
        template = http.post(
            f"/api/v1/dp-campaigns/{cid}/templates",
            files={"file": ("frame.png", (folder / "frame.png").read_bytes(), "image/png")},
            data={"layout": json.dumps(dp_bench.LAYOUT)},
        )
        template.raise_for_status()
        http.post(f"/api/v1/dp-campaigns/{cid}/publish").raise_for_status()
    return cid, template.json()["id"], headers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/test")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--n", type=int, default=15)
    args = ap.parse_args()
    stop_all_on_sigterm()
    url = create_database(args.pg, DB_NAME)
    port = _free_port()
    with tempfile.TemporaryDirectory() as var_dir:
        # The dev secrets (the signing key) written once before the workers start: two
        # workers generating them at once could each keep their own.
        os.environ["ADMITONE_VAR_DIR"] = var_dir
        from admitone.settings import load_settings

        load_settings()
        server = start_server(url, args.workers, var_dir, port)
        try:
            base = f"http://127.0.0.1:{port}"
            cid, tid, _ = seed(url, var_dir, base)
            cmd = [
                sys.executable, str(ROOT / "bench" / "dp.py"),
                "--rounds", str(args.rounds), "--n", str(args.n), "--procs", str(args.workers),
                "--http-url", f"{base}/api/v1/dp-campaigns/{cid}/generate",
                "--http-field", f"template_id={tid}",
                "--http-field", 'texts={"name": "Adaeze Okonkwo-Williamson", "title": "Speaker"}',
                "--http-clients", str(args.clients),
            ]  # fmt: skip
            result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
            summary = json.loads(result.stdout)
            summary.pop("all", None)
            summary["server_workers"] = args.workers
            summary["targets"]["http_over_in_process_dps"] = 0.8
            print(json.dumps(summary, indent=1))
        finally:
            stop_server(server)
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
