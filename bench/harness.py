"""Shared parts of the HTTP benchmarks: a scratch PostgreSQL database migrated to head, the
app under load (uvicorn in its own process group on loopback) with its CPU time read from
/proc, and a SIGTERM handler that never leaves a server behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED: list[subprocess.Popen[bytes]] = []


def scratch_url(admin: str, name: str) -> str:
    url = make_url(admin.replace("postgresql://", "postgresql+psycopg://", 1))
    return url.set(database=name).render_as_string(hide_password=False)


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_database(admin: str, name: str) -> str:
    """(Re)creates database `name` next to `admin`'s, migrated to head; returns its URL."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = scratch_url(admin, name)
    from admitone.core.db import make_engine
    from admitone.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def quiesce(url: str, limit_s: float = 15) -> None:
    """Waits (bounded) until no other session of the database is active, so a measurement
    does not start while the previous one's connections still finish."""
    end = time.perf_counter() + limit_s
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        while time.perf_counter() < end:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state NOT IN ('idle')"
            ).fetchone()
            if busy is None or busy[0] == 0:
                return
            time.sleep(0.05)


def proc_tree_cpu(root: int) -> float:
    """User+system CPU seconds of `root` and its descendants (uvicorn's workers)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        stats[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def start_server(
    url: str, workers: int, var_dir: str, port: int, **settings: str
) -> subprocess.Popen[bytes]:
    """Starts the app (dev env, in-process worker off) on 127.0.0.1:`port` and waits for
    /health; `settings` are extra ADMITONE_* variables (e.g. REALTIME_BACKEND="postgres")."""
    env = dict(
        os.environ,
        ADMITONE_DATABASE_URL=url,
        ADMITONE_ENV="dev",
        ADMITONE_VAR_DIR=var_dir,
        ADMITONE_RUN_WORKER_IN_PROCESS="false",
        ADMITONE_BASE_URL=f"http://127.0.0.1:{port}",
        **{f"ADMITONE_{k}": v for k, v in settings.items()},
    )
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "admitone.app:factory",
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
           "--loop", "uvloop", "--http", "httptools", "--no-access-log",
           "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    STARTED.append(proc)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return proc
        except OSError:
            if proc.poll() is not None:
                assert proc.stderr is not None
                raise RuntimeError(proc.stderr.read().decode()[-3000:]) from None
            time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError("server did not start")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # our own process group only
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def stop_all_on_sigterm() -> None:
    """On SIGTERM, stop every server we started, then unwind through `finally` blocks (so
    scratch databases are dropped)."""

    def on_term(*_: Any) -> None:
        for p in STARTED:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, on_term)
