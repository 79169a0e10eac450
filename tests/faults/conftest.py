"""Fault harness: real `admitone` processes on a scratch PostgreSQL database, killed with
SIGKILL, and a real SMTP server (aiosmtpd) that can stall at a chosen point of the
conversation.

The database is the session's migrated scratch database (`engine` in tests/conftest.py);
`committed_db` empties it after each test. Processes get their settings from ADMITONE_*
variables, as they would in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

ADMITONE = str(Path(sys.executable).with_name("admitone"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Polls `check` until it returns something truthy; fails naming `what` after `timeout`
    (a bound, not a timing assertion: a loaded box only makes it slower)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


@dataclass
class StallingSmtp:
    """An SMTP server that accepts mail, and can stall once: `stall="data"` holds the first
    DATA before answering it (the message is not accepted until the 250 is sent), and
    `stall="quit"` accepts the first message at once, then holds the QUIT that follows.
    `down=True` refuses every transaction with 421 (a server that is unavailable)."""

    port: int
    stall: str | None = None
    down: bool = False
    delivered: list[Message] = field(default_factory=list)
    aborted: int = 0  # DATA transactions whose client vanished before the 250
    refused: int = 0
    stalling: threading.Event = field(default_factory=threading.Event)
    _release: threading.Event = field(default_factory=threading.Event)

    async def _hold(self, server: Any) -> bool:
        """Waits until released; False when the client went away meanwhile."""
        self.stalling.set()
        while not self._release.is_set():
            transport = getattr(server, "transport", None)
            if transport is None or transport.is_closing():
                return False
            await asyncio.sleep(0.05)
        return True

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.down:
            self.refused += 1
            return "421 Service not available, closing transmission channel"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.stall == "data":
            self.stall = None
            try:
                alive = await self._hold(server)
            except asyncio.CancelledError:
                alive = False
            if not alive:
                self.aborted += 1
                raise asyncio.CancelledError
        self.delivered.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        if self.stall == "quit" and self.delivered:
            self.stall = None
            with contextlib.suppress(asyncio.CancelledError):
                await self._hold(server)
        return "221 Bye"

    def release(self) -> None:
        self._release.set()


@pytest.fixture
def smtp_server() -> Iterator[StallingSmtp]:
    server = StallingSmtp(port=free_port())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    yield server
    server.release()
    controller.stop()


@dataclass
class Processes:
    """`admitone` subprocesses sharing one environment; all killed at teardown."""

    env: dict[str, str]
    log_dir: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *args: str, **extra_env: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{args[0]}-{len(self.started)}.log").open("wb")
        proc = subprocess.Popen(
            [ADMITONE, *args],
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no handler runs, nothing is released or flushed (a crash, an OOM kill)."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.log_dir.glob("*.log"))
        )

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def process_env(database_url: str, var_dir: Path) -> dict[str, str]:
    """The environment of a platform process a fault test starts: this one's, without its
    own ADMITONE_* settings, pointed at `database_url` with the worker off."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ADMITONE_", "WEB_CONCURRENCY"))
    }
    env.update(
        ADMITONE_ENV="dev",
        ADMITONE_DATABASE_URL=database_url,
        ADMITONE_SECRET_KEY="fault-test-secret-key-0123456789abcdef",
        ADMITONE_VAR_DIR=str(var_dir),
        ADMITONE_RUN_WORKER_IN_PROCESS="false",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def processes(
    database_url: str, engine: Engine, tmp_path: Path, committed_db: Any
) -> Iterator[Processes]:
    """Depends on `engine` (the database is migrated) and `committed_db` (emptied after)."""
    procs = Processes(env=process_env(database_url, tmp_path / "var"), log_dir=tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()


# --- a private PostgreSQL cluster the test may restart --------------------------------------

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster of its own (initdb into a temporary directory, a free port,
    trust authentication on 127.0.0.1 only), so a test can restart it without touching the
    shared server other tests use. As root, its commands run as the `postgres` user
    (initdb refuses root)."""

    bin_dir: Path
    data: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://root@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str, timeout: float = 120) -> None:
        log = self.data.parent / "postgres.log"
        cmd = [*self.as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(log)]
        done = subprocess.run([*cmd, *args], capture_output=True, timeout=timeout, check=False)
        if done.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise AssertionError(f"pg_ctl {' '.join(args)} failed: {done.stderr!r}\n{tail}")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every session is ended (in-flight transactions roll
        back), the server stops and starts again."""
        self.ctl("restart", "-m", "fast", "-w", "-t", "60")


@pytest.fixture
def private_postgres() -> Iterator[PrivateCluster]:
    bins = [d for d in PG_BIN_DIRS if (d / "initdb").exists() and (d / "pg_ctl").exists()]
    if not bins:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed under /usr/lib")
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no `postgres` user to run initdb as")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="admitone-pg-"))
    if as_user:
        shutil.chown(root, "postgres", "postgres")
    cluster = PrivateCluster(bins[0], root / "data", free_port(), as_user)
    subprocess.run(
        [*as_user, str(bins[0] / "initdb"), "-D", str(cluster.data), "-U", "root",
         "-A", "trust", "-E", "UTF8", "--no-sync"],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    with (cluster.data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"port = {cluster.port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{root}'\nmax_connections = 100\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            "shared_buffers = 32MB\n"
        )
    try:
        cluster.ctl("start", "-w", "-t", "60")
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.ctl("stop", "-m", "immediate", "-w", "-t", "30", timeout=60)
        shutil.rmtree(root, ignore_errors=True)
