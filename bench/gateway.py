"""What the mobile gateway adds to a small support request: the same request sent straight
to the support service and through a gateway process in front of it, same run.

    .venv/bin/python bench/gateway.py [--rounds 20] [--requests 50]

It migrates a scratch SQLite database, starts two processes with `admitone serve` (one
worker each, the in-process job worker off): the support service (`--surface support`) and
the gateway (`--surface gateway`, `ADMITONE_GATEWAY_UPSTREAM` = the support service), both
on loopback. One client (two keep-alive httpx clients, one per target) sends, in
alternating rounds, `POST /support/v1/payments/webhooks/dev` with `{}` straight to the
support service and `POST /mobile/v1/payments/webhooks/dev` to the gateway (the real route
refuses both with 400 `invalid_signature`: a small request that touches no table), one at a
time. Reported: p50 and p90 latency of each, the p50 difference (target: <= 1 ms), and the
gateway process's CPU per request (from /proc). Target from issue 16. With `--other-src
DIR`, a second gateway process runs the code in DIR (e.g. the commit before a change, from
`git archive`), measured in the same rounds (order alternating).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ADMITONE = str(Path(sys.executable).with_name("admitone"))
PATH = "payments/webhooks/dev"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (clock ticks from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _serve(port: int, surface: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    args = [ADMITONE, "serve", "--port", str(port), "--surface", surface, "--surface", "ops"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{surface} did not start") from None
                time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        proc.wait(15)


def _round(client: httpx.Client, url: str, n: int) -> list[float]:
    took = []
    for _ in range(n):
        started = time.perf_counter()
        r = client.post(url, content=b"{}", headers={"content-type": "application/json"})
        took.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "invalid_signature", r.text
    return took


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument(
        "--other-src",
        default=None,
        help="a second gateway process runs this src/ (PYTHONPATH), e.g. the code before a "
        "change from `git archive`: both gateways measured in the same run",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp, ExitStack() as stack:
        env = {
            **os.environ,
            "ADMITONE_VAR_DIR": tmp,
            "ADMITONE_SECRET_KEY": "bench-gateway-secret-0123456789abcdef",
            "ADMITONE_RUN_WORKER_IN_PROCESS": "false",
            "ADMITONE_GATEWAY_LIMITS_PER_IP": "1000000 per minute",
        }
        subprocess.run([ADMITONE, "migrate"], env=env, check=True, capture_output=True)
        support_port = _free_port()
        support_url = f"http://127.0.0.1:{support_port}"
        gateway_env = {**env, "ADMITONE_GATEWAY_UPSTREAM": support_url}
        stack.enter_context(_serve(support_port, "support", env))
        direct_client = stack.enter_context(httpx.Client(trust_env=False))
        direct_url = f"{support_url}/support/v1/{PATH}"
        gateways: dict[str, tuple[subprocess.Popen[bytes], httpx.Client, str]] = {}
        kinds = {"gateway": gateway_env}
        if args.other_src:
            kinds["other_gateway"] = {**gateway_env, "PYTHONPATH": args.other_src}
        for name, kind_env in kinds.items():
            port = _free_port()
            proc = stack.enter_context(_serve(port, "gateway", kind_env))
            client = stack.enter_context(httpx.Client(trust_env=False))
            gateways[name] = (proc, client, f"http://127.0.0.1:{port}/mobile/v1/{PATH}")
        _round(direct_client, direct_url, 50)  # warm-up every path
        for _, client, url in gateways.values():
            _round(client, url, 50)
        direct: list[float] = []
        via: dict[str, list[float]] = {name: [] for name in gateways}
        cpu_spent = dict.fromkeys(gateways, 0.0)
        for i in range(args.rounds):
            first = i % 2 == 0
            if first:
                direct += _round(direct_client, direct_url, args.requests)
            order = list(gateways) if first else list(reversed(gateways))
            for name in order:
                proc, client, url = gateways[name]
                cpu = _cpu_seconds(proc.pid)
                via[name] += _round(client, url, args.requests)
                cpu_spent[name] += _cpu_seconds(proc.pid) - cpu
            if not first:
                direct += _round(direct_client, direct_url, args.requests)
    p50_direct = statistics.median(direct)
    result: dict[str, object] = {
        "requests_each": len(direct),
        "direct_p50_ms": round(p50_direct, 3),
        "direct_p90_ms": round(_pct(direct, 0.9), 3),
    }
    for name, took in via.items():
        prefix = "" if name == "gateway" else "other_"
        result[f"{prefix}gateway_p50_ms"] = round(statistics.median(took), 3)
        result[f"{prefix}gateway_p90_ms"] = round(_pct(took, 0.9), 3)
        result[f"{prefix}added_p50_ms"] = round(statistics.median(took) - p50_direct, 3)
        result[f"{prefix}gateway_cpu_ms_per_request"] = round(cpu_spent[name] * 1000 / len(took), 3)
    result["load_average"] = os.getloadavg()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
