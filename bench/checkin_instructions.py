"""Instructions per door scan, counted by callgrind: a load-proof comparison of source trees.

    .venv/bin/python bench/checkin_instructions.py [--tree /path/to/other/checkout ...]
        [--scans 200] [--pg postgresql://root@127.0.0.1:5432/postgres]

Timing a scan (bench/checkin.py) on this shared 2-core box moves by 10-25 % from run to run;
an instruction count does not depend on what else the machine is doing. For each tree (this
checkout first, then every `--tree`: another commit's worktree, its `src/` put first on
PYTHONPATH with this venv), it seeds a scratch database migrated by that tree and runs the
app in process (`admitone.app:factory` behind Starlette's TestClient: middleware, route,
service, SQL; the same path as over HTTP, minus uvicorn's parsing) under
`valgrind --tool=callgrind` twice: 20 warm-up scans alone, and the warm-up followed by
`--scans` scans. The difference divided by `--scans` is the app's instructions per scan
(process start, imports and the warm-up cancel out). The setup's count repeats within ~0.2 %.
Realtime runs in memory here (no broker thread waking on a timer). valgrind must be installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
WARMUP = 20


def _env(tree: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=f"{tree / 'src'}:{tree}", PYTHONHASHSEED="0")


def seed(pg: str, tree: Path, name: str, n: int) -> dict[str, Any]:
    """Seeds in a child process, so the tree's own code migrates and writes the rows."""
    out = subprocess.run(
        [sys.executable, __file__, "_seed", pg, name, str(n)],
        env=_env(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _seed(pg: str, name: str, n: int) -> None:
    sys.path.insert(0, str(BENCH))
    import checkin
    from harness import create_database

    url = create_database(pg, name)
    var = tempfile.mkdtemp(prefix="ckinstr-")
    ids = checkin.seed(url, n, var)
    print(json.dumps({**ids, "url": url, "var": var}))


def _scan(spec_file: str, first: int, n: int) -> None:
    ids = json.loads(Path(spec_file).read_text())
    os.environ.update(
        ADMITONE_DATABASE_URL=ids["url"],
        ADMITONE_ENV="dev",
        ADMITONE_VAR_DIR=ids["var"],
        ADMITONE_RUN_WORKER_IN_PROCESS="false",
        ADMITONE_BASE_URL="http://127.0.0.1:8742",
        ADMITONE_REALTIME_BACKEND="memory",
    )
    from starlette.testclient import TestClient

    from admitone.app import factory

    app = factory()  # imports every model before the session row below is written
    from admitone.auth.models import AuthSession
    from admitone.auth.tokens import issue_access_token
    from admitone.core.db import Database, make_engine
    from admitone.core.ids import AuthSessionId
    from admitone.settings import Settings, with_dev_secrets

    settings = with_dev_secrets(
        Settings(var_dir=Path(ids["var"]), env="dev", base_url="http://127.0.0.1:8742")
    )
    engine = make_engine(ids["url"])
    with Database(engine).session() as s:  # a fresh token: valgrind runs outlive one
        sid = AuthSessionId.new()
        s.add(AuthSession(id=sid, user_id=ids["staff_id"], method="otp"))
    engine.dispose()
    token, _ = issue_access_token(settings, ids["staff_id"], sid)
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/events/{ids['event_id']}/checkins"
    with TestClient(app) as client:
        for code in ids["codes"][first : first + WARMUP + n]:
            r = client.post(path, json={"code": code, "device_id": "bench"}, headers=headers)
            if r.status_code != 200 or r.json()["result"] != "accepted":
                raise SystemExit(f"scan not accepted: {r.status_code} {r.text}")


def instructions(tree: Path, spec_file: str, first: int, n: int) -> int:
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, __file__, "_scan", spec_file, str(first), str(n)],
        env=_env(tree), capture_output=True, text=True, check=False, cwd=tempfile.gettempdir(),
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not found:
        raise RuntimeError(done.stderr[-2000:])
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", action="append", default=[], help="another checkout to compare")
    ap.add_argument("--scans", type=int, default=200)
    ap.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    results = []
    for i, tree in enumerate([ROOT, *(Path(t).resolve() for t in args.tree)]):
        name = f"admitone_bench_ckinstr_{i}"
        ids = seed(args.pg, tree, name, 2 * (WARMUP + args.scans))
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(ids, f)
        try:
            setup = instructions(tree, f.name, 0, 0)
            total = instructions(tree, f.name, WARMUP, args.scans)
        finally:
            os.unlink(f.name)
            shutil.rmtree(ids["var"], ignore_errors=True)
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        per_scan = (total - setup) / args.scans
        results.append({"tree": str(tree), "setup": setup, "per_scan": round(per_scan)})
        print(json.dumps(results[-1]), flush=True)
    base = results[0]["per_scan"]
    for r in results[1:]:
        print(f"{r['tree']}: {r['per_scan'] / base:.3f}x this checkout's instructions per scan")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_seed":
        _seed(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_scan":
        _scan(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
