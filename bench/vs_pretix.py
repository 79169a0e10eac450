"""Admit One next to pretix 2026.8 on this machine, in one run: paid orders and door scans.

    .venv/bin/python bench/vs_pretix.py [--anchor-dir /tmp/pretix-anchor] [--repeats 3]
        [--out result.json]

pretix is installed, served and loaded by the anchor harness in ../shared/anchors/pretix
(not ours; run its `setup.sh` once with ANCHOR_DIR set, ~2 min). This script, in one run:
  1. starts pretix (gunicorn, 2 sync workers, as the anchor serves it) and loads it with the
     anchor's own `load.py`: paid orders (25.00 EUR, `payment_provider: manual`, order left
     pending: the same shape as our pending order with a dev payment) at 32 concurrent
     buyers, and first scans at 16 concurrent scanners, reading app CPU per request from
     /proc of gunicorn; then stops pretix so that it idles nowhere during our runs;
  2. runs bench/onsale.py (32 buyers) and bench/checkin.py (16 scanners) as they are;
  3. reports both sides and the ratios: throughput (ours / pretix) and app CPU per request
     (pretix / ours). App CPU per request hardly depends on what else the box is doing, so
     it is the steadier of the two.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT.parent / "shared" / "anchors" / "pretix"


def run_pretix(anchor: Path, harness: Path, repeats: int, tmp: Path) -> dict[str, Any]:
    env = dict(os.environ, ANCHOR_DIR=str(anchor))
    python = str(anchor / "venv" / "bin" / "python")
    pidfile = str(anchor / "run" / "gunicorn.pid")
    common = [python, str(harness / "load.py"), "--seed", str(anchor / "seed.json"),
              "--reps", str(repeats), "--server-pidfile", pidfile]  # fmt: skip
    subprocess.run([str(harness / "serve.sh"), "start"], env=env, check=True)
    try:
        orders, scans = tmp / "pretix_orders.json", tmp / "pretix_checkin.json"
        subprocess.run([*common, "--out", str(orders), "--paid", "orders",
                        "--concurrency", "32", "--orders-per-level", "32:300"],
                       env=env, check=True)  # fmt: skip
        subprocess.run([*common, "--out", str(scans), "checkin", "--checkin-concurrency", "16",
                        "--checkin-per-level", "16:400"], env=env, check=True)  # fmt: skip
    finally:
        subprocess.run([str(harness / "serve.sh"), "stop"], env=env, check=False)
    o = json.loads(orders.read_text())["orders"]["c32"]
    c = json.loads(scans.read_text())["checkin"]["first_scan"]["c16"]
    return {
        "orders": {"per_s": o["median_rps"], "cpu_ms": o["median_server_cpu_ms_per_req"],
                   "p99_ms": o["median_p99_ms"], "runs": [r["rps"] for r in o["reps"]]},
        "scans": {"per_s": c["median_rps"], "cpu_ms": c["median_server_cpu_ms_per_req"],
                  "p99_ms": c["median_p99_ms"], "runs": [r["rps"] for r in c["reps"]]},
    }  # fmt: skip


def run_ours(script: str, repeats: int, out: Path) -> list[dict[str, Any]]:
    subprocess.run([sys.executable, str(ROOT / "bench" / script), "--repeats", str(repeats),
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    rows: list[dict[str, Any]] = json.loads(out.read_text())["rows"]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    anchor_dir = os.environ.get("ANCHOR_DIR") or str(Path(tempfile.gettempdir(), "pretix-anchor"))
    ap.add_argument("--anchor-dir", default=anchor_dir)
    ap.add_argument("--harness", default=str(HARNESS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the JSON result here too")
    args = ap.parse_args()
    anchor, harness = Path(args.anchor_dir), Path(args.harness)
    if not (anchor / "seed.json").exists():
        sys.exit(f"pretix is not set up in {anchor}: run  ANCHOR_DIR={anchor} {harness}/setup.sh")

    with tempfile.TemporaryDirectory() as tmp:
        pretix = run_pretix(anchor, harness, args.repeats, Path(tmp))
        onsale = run_ours("onsale.py", args.repeats, Path(tmp) / "onsale.json")
        checkin = run_ours("checkin.py", args.repeats, Path(tmp) / "checkin.json")

    lines = []
    p = pretix["orders"]
    for row in (r for r in onsale if r["who"] == "app"):
        lines.append({
            "what": f"paid order, 32 buyers, ours: {row['mode']}",
            "pretix_per_s": p["per_s"], "ours_per_s": row["orders_per_s"],
            "throughput_x": round(row["orders_per_s"] / p["per_s"], 1),
            "pretix_cpu_ms": p["cpu_ms"], "ours_cpu_ms": row["cpu_ms_per_order"],
            "cpu_x": round(p["cpu_ms"] / row["cpu_ms_per_order"], 1),
            "pretix_p99_ms": p["p99_ms"], "ours_p99_ms": row["p99_ms"],
        })  # fmt: skip
    p = pretix["scans"]
    for row in (r for r in checkin if r["who"] == "app_saturation"):
        lines.append({
            "what": "first scan, 16 scanners",
            "pretix_per_s": p["per_s"], "ours_per_s": row["scans_per_s"],
            "throughput_x": round(row["scans_per_s"] / p["per_s"], 1),
            "pretix_cpu_ms": p["cpu_ms"], "ours_cpu_ms": row["cpu_ms_per_scan"],
            "cpu_x": round(p["cpu_ms"] / row["cpu_ms_per_scan"], 1),
            "pretix_p99_ms": p["p99_ms"], "ours_p99_ms": row["p99_ms"],
        })  # fmt: skip
    result = {"repeats": args.repeats, "pretix": pretix, "onsale": onsale, "checkin": checkin,
              "comparison": lines}  # fmt: skip
    print(
        "| what | pretix /s | ours /s | x | pretix CPU ms | ours CPU ms | x | p99 ms pretix/ours |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for x in lines:
        print(f"| {x['what']} | {x['pretix_per_s']} | {x['ours_per_s']} | {x['throughput_x']} "
              f"| {x['pretix_cpu_ms']} | {x['ours_cpu_ms']} | {x['cpu_x']} "
              f"| {x['pretix_p99_ms']} / {x['ours_p99_ms']} |")  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
