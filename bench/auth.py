"""Auth overhead over HTTP: requests/s of a route behind `CurrentUser` versus the same
route without auth, served by uvicorn (one worker, separate process) in one run.

Two pairs of routes: a trivial JSON route (worst case: auth is most of the work) and the
handler of `GET /api/v1/me` (one primary-key read) with and without auth. Rounds
alternate open/authed so load drift on the box hits both; the headline is the median of
the per-round ratios, beside the medians of the rates. On a shared, busy box wall-clock
rates swing with the neighbours' load, so the bench also reads the server process's CPU
time (/proc, all threads) around every round and reports requests per server CPU-second:
the rate one core would sustain, which other processes cannot distort.
Also printed: the in-process cost of `verify_access_token`, first time (ES256 signature)
and remembered.

    .venv/bin/python bench/auth.py [--seconds 0.5] [--rounds 41] [--connections 16]
"""

# No `from __future__ import annotations`: the routes below are defined inside a function
# and FastAPI must see their real annotation objects.
import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_LENGTH = re.compile(rb"content-length: *(\d+)", re.IGNORECASE)


def serve(port: int) -> None:
    import uvicorn
    from fastapi import APIRouter

    from admitone import domains
    from admitone.app import create_app
    from admitone.auth import service as auth
    from admitone.auth.deps import CurrentUser
    from admitone.core.db import Database, make_engine
    from admitone.core.http import Db
    from admitone.migrate import upgrade
    from admitone.settings import Settings, with_dev_secrets
    from admitone.users import service as users
    from admitone.users.models import User
    from admitone.users.routes import _me
    from admitone.users.schemas import Me

    var = Path(tempfile.mkdtemp(prefix="bench-auth-"))
    settings = with_dev_secrets(Settings(env="test", var_dir=var, run_worker_in_process=False))
    db = Database(make_engine(settings.resolved_database_url))
    domains.load_models()
    upgrade(db.bind)  # type: ignore[arg-type]

    def _user(session):  # type: ignore[no-untyped-def]
        from admitone.core.clock import utcnow
        from admitone.core.ids import UserId

        user = User(id=UserId.new(), email="bench@example.com", email_verified_at=utcnow())
        session.add(user)
        session.flush()
        return auth.start_session(session, settings, user.id, method="otp")

    tokens = db.mutation(_user)
    app = create_app(settings, db, run_worker=False)
    bench = APIRouter(prefix="/bench")

    @bench.get("/open")
    def open_route() -> dict[str, str]:
        return {"user_id": tokens.user_id}

    @bench.get("/authed")
    def authed_route(actor: CurrentUser) -> dict[str, str]:
        return {"user_id": actor.user_id}

    @bench.get("/me-open")
    def me_open(db: Db) -> Me:
        return db.query(lambda s: _me(users.get_user(s, tokens.user_id)))

    @bench.get("/me-authed")
    def me_authed(actor: CurrentUser, db: Db) -> Me:  # the body of GET /api/v1/me
        return db.query(lambda s: _me(users.get_user(s, actor.user_id)))

    app.include_router(bench)
    # Starlette matches routes in order: put the bench routes first so that both routes of
    # a pair pay the same (small) routing cost.
    ours = [r for r in app.router.routes if getattr(r, "path", "").startswith("/bench/")]
    app.router.routes[:] = ours + [r for r in app.router.routes if r not in ours]
    print(f"READY {tokens.access_token}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _load(
    port: int, path: str, headers: str, seconds: float, connections: int
) -> tuple[float, int]:
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n".encode()
    done = 0
    errors = 0

    async def one() -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            match = _LENGTH.search(head)
            await reader.readexactly(int(match[1]) if match else 0)
            if head[9:12] == b"200":
                done += 1
            else:
                errors += 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{path}: {errors} non-200 responses")
    return done / elapsed, done


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _print_verify_cost(token: str) -> None:
    """In-process: what one token check costs, first time and remembered."""
    import tempfile as tf

    from admitone.auth import tokens as tokens_module
    from admitone.settings import Settings, with_dev_secrets

    settings = with_dev_secrets(Settings(env="test", var_dir=Path(tf.mkdtemp())))
    token, _ = tokens_module.issue_access_token(
        settings, "usr_01JD3000000000000000000000", "sid_01JD3000000000000000000000"
    )
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        tokens_module._verified.clear()
        tokens_module.verify_access_token(settings, token)
    first = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    for _ in range(n * 10):
        tokens_module.verify_access_token(settings, token)
    remembered = (time.perf_counter() - start) / (n * 10) * 1e6
    print(f"verify_access_token: {first:.0f} us first time (ES256), {remembered:.1f} us remembered")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", type=int)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "ADMITONE_LOG_LEVEL": "WARNING"},
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("READY "):
            raise SystemExit(f"server did not start: {line!r}")
        token = line.split()[1]
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        auth = f"Authorization: Bearer {token}\r\n"
        pairs = {
            "trivial": (("/bench/open", ""), ("/bench/authed", auth)),
            "me": (("/bench/me-open", ""), ("/bench/me-authed", auth)),
        }
        results: dict[str, dict[str, list[float]]] = {
            name: {"open": [], "authed": []} for name in pairs
        }
        cpu: dict[str, dict[str, list[float]]] = {
            name: {"open": [0.0, 0.0], "authed": [0.0, 0.0]} for name in pairs
        }

        def measure(name: str, kind: str, path: str, headers: str) -> None:
            before = _cpu_seconds(server.pid)
            rate, done = asyncio.run(_load(port, path, headers, args.seconds, args.connections))
            cpu[name][kind][0] += _cpu_seconds(server.pid) - before
            cpu[name][kind][1] += done
            results[name][kind].append(rate)

        for name, ((open_path, _), (authed_path, headers)) in pairs.items():
            asyncio.run(_load(port, open_path, "", 1.0, args.connections))  # warm-up
            asyncio.run(_load(port, authed_path, headers, 1.0, args.connections))
            for _ in range(args.rounds):
                measure(name, "open", open_path, "")
                measure(name, "authed", authed_path, headers)
        print(
            f"uvicorn, 1 worker, {args.connections} keep-alive connections, "
            f"{args.rounds} alternating rounds of {args.seconds:g} s (medians)"
        )
        print(
            "| route | without auth req/s | with auth req/s | auth/no-auth (median of rounds) "
            "| overhead | rounds: quartiles of the ratio |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for name, r in results.items():
            open_rps = statistics.median(r["open"])
            authed_rps = statistics.median(r["authed"])
            rounds = [a / o for o, a in zip(r["open"], r["authed"], strict=True)]
            ratio = statistics.median(rounds)
            q1, _, q3 = statistics.quantiles(rounds, n=4)
            print(
                f"| {name} | {open_rps:,.0f} | {authed_rps:,.0f} | {ratio:.3f} | "
                f"{(1 - ratio) * 100:.1f}% | {q1:.2f}-{q3:.2f} |"
            )
        print()
        print("| route | without auth req per server CPU-s | with auth | auth/no-auth | overhead |")
        print("| --- | --- | --- | --- | --- |")
        for name, c in cpu.items():
            open_eff = c["open"][1] / c["open"][0]
            authed_eff = c["authed"][1] / c["authed"][0]
            ratio = authed_eff / open_eff
            print(
                f"| {name} | {open_eff:,.0f} | {authed_eff:,.0f} | {ratio:.3f} | "
                f"{(1 - ratio) * 100:.1f}% |"
            )
        _print_verify_cost(token)
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
