"""The buyer's live order status (SSE) over a real server: `pending`, then `paid` as soon
as the payment's webhook is applied."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from admitone.app import create_app
from admitone.core.db import Database
from admitone.settings import Settings
from tests.orders.shop import open_shop, order_body


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


def _updates(lines: Iterator[str]) -> Iterator[dict]:  # type: ignore[type-arg]
    for line in lines:
        if line.startswith("data:"):
            yield json.loads(line.removeprefix("data:").strip())


@pytest.mark.committed
def test_order_stream_pushes_paid_after_the_webhook(
    served: str, settings: Settings, committed_db: Database
) -> None:
    shop = open_shop(committed_db, settings)
    with httpx.Client(base_url=served, timeout=10) as http:
        order = http.post("/api/v1/orders", json=order_body(shop, 2)).json()
        url = f"/api/v1/orders/{order['id']}/stream"
        assert http.get(url).status_code == 404  # no token, not signed in
        with http.stream("GET", url, params={"token": order["order_token"]}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            updates = _updates(stream.iter_lines())
            assert next(updates)["status"] == "pending"
            ref = order["payment"]["reference"]
            assert http.post(f"/support/v1/payments/dev/{ref}/approve").json()["outcome"] == "paid"
            # Pushed by the webhook, not by a timer: the stream re-reads only when its topic
            # fires, and the client's read timeout (10 s, under the 15 s keep-alive ping)
            # bounds the wait; no elapsed-time bound, which flakes on a loaded box.
            pushed = next(updates)
            assert pushed["status"] == "paid"
            assert len(pushed["passes"]) == 2
