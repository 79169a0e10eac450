"""The gateway guards: sessions verified, identity signed, rates limited, bodies streamed,
against upstreams running as separate processes."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient

from admitone.app import create_app
from admitone.auth import internal
from admitone.auth.deps import CurrentUser
from admitone.core.db import Database
from admitone.settings import Settings
from tests.factories import auth_headers, make_user

MB = 1024 * 1024


@pytest.fixture
def whoami_app(app: FastAPI) -> FastAPI:
    router = APIRouter(prefix="/support/v1/whoami")

    @router.get("", include_in_schema=False)
    async def whoami(actor: CurrentUser, request: Request) -> dict[str, str | None]:
        return {"user_id": actor.user_id, "identity": request.headers.get(internal.HEADER)}

    app.include_router(router)
    return app


@pytest.fixture
def user_headers(db: Database, settings: Settings) -> tuple[str, dict[str, str]]:
    def make(session: object) -> tuple[str, dict[str, str]]:
        user = make_user(session)  # type: ignore[arg-type]
        return user.id, auth_headers(session, settings, user)  # type: ignore[arg-type]

    return db.mutation(make)


def test_the_support_service_gets_a_signed_identity_never_the_clients_own(
    whoami_app: FastAPI, user_headers: tuple[str, dict[str, str]], settings: Settings
) -> None:
    user_id, headers = user_headers
    with TestClient(whoami_app) as client:
        forged = {**headers, "X-Admitone-Identity": "v1.usr_X.sid_X.9999999999.forged"}
        resp = client.get("/mobile/v1/whoami", headers=forged)
        assert resp.status_code == 200, resp.text
        assert resp.json()["user_id"] == user_id
        signed = resp.json()["identity"]
        assert signed != forged["X-Admitone-Identity"]
        assert internal.read_identity(settings, signed)[0] == user_id
        # Reached directly, the support surface refuses a header it did not sign ...
        direct = client.get(
            "/support/v1/whoami", headers={"X-Admitone-Identity": forged["X-Admitone-Identity"]}
        )
        assert direct.status_code == 401
        assert direct.json()["code"] == "invalid_identity"
        # ... and one the gateway signed stops working after its short life.
        stale = internal.sign_identity(settings, user_id, "sid_" + "0" * 26, now=time.time() - 120)
        assert (
            client.get("/support/v1/whoami", headers={"X-Admitone-Identity": stale}).status_code
            == 401
        )


def test_a_bad_token_is_refused_at_the_gateway(whoami_app: FastAPI) -> None:
    with TestClient(whoami_app) as client:
        resp = client.get("/mobile/v1/whoami", headers={"Authorization": "Bearer not-a-token"})
    assert resp.status_code == 401


def test_per_user_rate_limits_answer_429_with_retry_after(
    whoami_app: FastAPI, settings: Settings, user_headers: tuple[str, dict[str, str]]
) -> None:
    settings.gateway_limits_per_user = "3 per minute"
    _, headers = user_headers
    with TestClient(whoami_app) as client:
        statuses = [client.get("/mobile/v1/whoami", headers=headers).status_code for _ in range(4)]
        limited = client.get("/mobile/v1/whoami", headers=headers)
    assert statuses == [200, 200, 200, 429]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(args: list[str], port: int, env: dict[str, str]) -> Iterator[str]:
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    pytest.fail(f"upstream exited: {proc.stderr.read() if proc.stderr else ''}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def streamer() -> Iterator[str]:
    port = _free_port()
    args = [sys.executable, "-m", "uvicorn", "tests.gateway.streamer:app", "--port", str(port)]
    yield from _serve(args, port, {**os.environ, "PYTHONPATH": str(Path.cwd())})


def _peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_a_20_mb_body_streams_both_ways_with_flat_memory(
    tmp_path: Path, settings: Settings, streamer: str
) -> None:
    """The gateway alone in its own process, between a client and an upstream process: its
    peak memory grows by far less than the 20 MiB that pass through it each way."""
    env = {
        **os.environ,
        "ADMITONE_VAR_DIR": str(tmp_path / "gw"),
        "ADMITONE_SECRET_KEY": settings.secret.decode(),
        "ADMITONE_RUN_WORKER_IN_PROCESS": "false",
        "ADMITONE_GATEWAY_UPSTREAM": streamer,
        "ADMITONE_MAX_UPLOAD_BYTES": str(32 * MB),
    }
    admitone = str(Path(sys.executable).with_name("admitone"))
    subprocess.run([admitone, "migrate"], env=env, check=True, capture_output=True, timeout=120)
    port = _free_port()
    args = [admitone, "serve", "--port", str(port), "--surface", "gateway", "--surface", "ops"]
    proc_env = dict(env)
    served = _serve(args, port, proc_env)
    gateway = next(served)
    try:
        pid = _pid_listening(port)
        piece = os.urandom(64 * 1024)
        expected = hashlib.sha256(piece * 320).hexdigest()
        with httpx.Client(base_url=gateway, timeout=60) as client:
            client.get("/mobile/v1/source", params={"bytes": 1024 * 1024})  # warm up
            client.post("/mobile/v1/sink", content=piece * 16)
            before = _peak_rss(pid)

            def body() -> Iterator[bytes]:
                for _ in range(320):  # 20 MiB
                    yield piece

            up = client.post(
                "/mobile/v1/sink", content=body(), headers={"content-length": str(20 * MB)}
            )
            received = 0
            with client.stream("GET", "/mobile/v1/source", params={"bytes": 20 * MB}) as down:
                for chunk in down.iter_raw():
                    received += len(chunk)
            grown = _peak_rss(pid) - before
    finally:
        next(served, None)
    assert up.status_code == 200, up.text
    assert up.json() == {"bytes": 20 * MB, "sha256": expected}
    assert received == 20 * MB
    assert grown < 8 * MB, f"the gateway's peak memory grew {grown / MB:.1f} MiB"


def _pid_listening(port: int) -> int:
    """The pid of the process listening on `port` (from /proc/net/tcp and fd links)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":
            inode = fields[9]
    assert inode is not None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) == f"socket:[{inode}]":
                    return int(proc.name)
        except OSError:
            continue
    raise AssertionError("no process listens there")


@pytest.fixture
def support_process(tmp_path: Path, settings: Settings) -> Iterator[str]:
    """The real support service, alone in its own process, on its own SQLite database."""
    env = {
        **os.environ,
        "ADMITONE_VAR_DIR": str(tmp_path / "support"),
        "ADMITONE_SECRET_KEY": settings.secret.decode(),
        "ADMITONE_RUN_WORKER_IN_PROCESS": "false",
    }
    admitone = str(Path(sys.executable).with_name("admitone"))
    subprocess.run([admitone, "migrate"], env=env, check=True, capture_output=True, timeout=120)
    port = _free_port()
    yield from _serve(
        [admitone, "serve", "--port", str(port), "--surface", "support", "--surface", "ops"],
        port,
        env,
    )


def test_a_real_support_service_in_another_process_answers_through_the_gateway(
    settings: Settings, db: Database, support_process: str
) -> None:
    settings.gateway_upstream = support_process
    with TestClient(create_app(settings, db, run_worker=False, surfaces=["gateway"])) as client:
        resp = client.post("/mobile/v1/payments/webhooks/dev", content=b"{}")
        assert resp.status_code == 400
        assert resp.json()["code"] == "invalid_signature"
        assert resp.headers["x-request-id"]
