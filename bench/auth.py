"""Auth overhead over HTTP: requests/s of a route behind `CurrentUser` versus the same
route without auth, served by uvicorn (one worker, separate process) in one run.

Two pairs of routes: a trivial JSON route (worst case: auth is most of the work) and the
real `GET /api/v1/me` versus the same handler reading a fixed user without auth. Rounds
alternate open/authed so load drift on the box hits both; medians are reported.

    .venv/bin/python bench/auth.py [--seconds 3] [--rounds 5] [--connections 16]
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

    app.include_router(bench)
    print(f"READY {tokens.access_token}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _load(port: int, path: str, headers: str, seconds: float, connections: int) -> float:
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
    return done / elapsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", type=int)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
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
            "me": (("/bench/me-open", ""), ("/api/v1/me", auth)),
        }
        results: dict[str, dict[str, list[float]]] = {
            name: {"open": [], "authed": []} for name in pairs
        }
        for name, ((open_path, _), (authed_path, headers)) in pairs.items():
            asyncio.run(_load(port, open_path, "", 1.0, args.connections))  # warm-up
            asyncio.run(_load(port, authed_path, headers, 1.0, args.connections))
            for _ in range(args.rounds):
                results[name]["open"].append(
                    asyncio.run(_load(port, open_path, "", args.seconds, args.connections))
                )
                results[name]["authed"].append(
                    asyncio.run(_load(port, authed_path, headers, args.seconds, args.connections))
                )
        print(
            f"uvicorn, 1 worker, {args.connections} keep-alive connections, "
            f"{args.rounds} alternating rounds of {args.seconds:g} s (medians)"
        )
        print(
            "| route | without auth req/s | with auth req/s | auth/no-auth | overhead "
            "| per-round ratios (min-max) |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for name, r in results.items():
            open_rps = statistics.median(r["open"])
            authed_rps = statistics.median(r["authed"])
            ratio = authed_rps / open_rps
            rounds = [a / o for o, a in zip(r["open"], r["authed"], strict=True)]
            print(
                f"| {name} | {open_rps:,.0f} | {authed_rps:,.0f} | {ratio:.3f} | "
                f"{(1 - ratio) * 100:.1f}% | {min(rounds):.2f}-{max(rounds):.2f} |"
            )
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
