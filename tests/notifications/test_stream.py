"""The inbox stream over a real server: the current state at once, then a push as soon as
a fan-out job commits a notification for this user (and only for this user)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from admitone.app import create_app
from admitone.core import jobs, outbox
from admitone.core.db import Database
from admitone.settings import Settings
from tests.factories import auth_headers, make_user


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(settings: Settings, committed_db: Database) -> Iterator[str]:
    app = create_app(settings, committed_db, run_worker=False)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _updates(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.startswith("data:"):
            yield json.loads(line.removeprefix("data:").strip())


@pytest.mark.committed
def test_stream_pushes_a_new_notification(
    served: str, settings: Settings, committed_db: Database
) -> None:
    with committed_db.session() as s:
        user, other = make_user(s), make_user(s)
        headers = auth_headers(s, settings, user)
    url = "/api/v1/me/notifications/stream"
    with httpx.Client(base_url=served, timeout=10) as http:
        assert http.get(url).status_code == 401
        with http.stream("GET", url, headers=headers) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            updates = _updates(stream.iter_lines())
            assert next(updates) == {"unread": 0, "latest": []}
            # someone else's notification does not wake this stream; this user's does
            committed_db.mutation(
                lambda s: outbox.notify(
                    s, "dp_approved", users=[other.id], data={"campaign_title": "X"}
                )
            )
            committed_db.mutation(
                lambda s: outbox.notify(
                    s, "dp_approved", users=[user.id], data={"campaign_title": "Mine"}
                )
            )
            jobs.drain(committed_db, settings)
            # Pushed, not polled: the stream re-reads only when its topic fires, and the
            # client's read timeout (10 s, under the 15 s keep-alive ping) bounds the wait;
            # no elapsed-time bound, which flakes on a loaded box.
            pushed = next(updates)
            assert pushed["unread"] == 1
            assert [n["title"] for n in pushed["latest"]] == ["Your picture for Mine is approved"]
            read = http.post("/api/v1/me/notifications/read-all", headers=headers)
            assert read.json() == {"updated": 1}
            assert next(updates)["unread"] == 0
