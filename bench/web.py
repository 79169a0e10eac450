"""Server CPU of the event page (`GET /events/{slug}`, HTML) against the same data as JSON
(`GET /api/v1/public/events/{slug}`), in one run.

`admitone serve` runs in its own process (SQLite under a scratch directory, the demo event
seeded); a keep-alive client on this side sends alternating rounds of each request, and
the server process's CPU time (user + system, all threads, from /proc) is read around
every round. The headline is the median over rounds of (page CPU per request) / (JSON CPU
per request); the issue's target is <= 1.5.

    .venv/bin/python bench/web.py [--rounds 15] [--requests 200]
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin" / "admitone"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_round(conn: http.client.HTTPConnection, path: str, n: int) -> None:
    for _ in range(n):
        conn.request("GET", path, headers={"Accept": "*/*"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or not body:
            raise SystemExit(f"{path} answered {resp.status}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="bench-web-"))
    port = free_port()
    env = {
        **os.environ,
        "ADMITONE_VAR_DIR": str(var),
        "ADMITONE_BASE_URL": f"http://127.0.0.1:{port}",
        "ADMITONE_RUN_WORKER_IN_PROCESS": "false",
    }
    subprocess.run([str(BIN), "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([str(BIN), "seed-demo"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port)],
        env={**env, "ADMITONE_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=open(var / "serve.log", "wb"),  # noqa: SIM115
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    log = (var / "serve.log").read_text()[-2000:]
                    raise SystemExit(f"the server did not start:\n{log}") from None
                time.sleep(0.2)
        slug = "admit-one-demo-night"
        paths = {"page": f"/events/{slug}", "json": f"/api/v1/public/events/{slug}"}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for path in paths.values():  # warm up
            run_round(conn, path, 50)
        per_request: dict[str, list[float]] = {"page": [], "json": []}
        ratios = []
        for _ in range(args.rounds):
            costs = {}
            for name, path in paths.items():
                before = cpu_seconds(server.pid)
                run_round(conn, path, args.requests)
                costs[name] = (cpu_seconds(server.pid) - before) / args.requests
                per_request[name].append(costs[name])
            if costs["json"] > 0:
                ratios.append(costs["page"] / costs["json"])
        page_ms = statistics.median(per_request["page"]) * 1000
        json_ms = statistics.median(per_request["json"]) * 1000
        print(f"server CPU per request: page {page_ms:.3f} ms, JSON {json_ms:.3f} ms")
        print(
            f"page / JSON (median of {len(ratios)} rounds): {statistics.median(ratios):.2f}x"
            " (target <= 1.5x)"
        )
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)


if __name__ == "__main__":
    sys.exit(main())
