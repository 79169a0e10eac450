"""Browser fixtures: the app served by uvicorn on a random port (in a thread, on its own
committed database) and headless Chromium (Debian's `chromium`) driven by Playwright.

Without /usr/bin/chromium the browser tests are skipped with the reason (CI installs it:
.ci/run)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import Engine, text

from admitone.app import create_app
from admitone.core import jobs
from admitone.core.db import Base, Database
from admitone.settings import AuthSettings, PaymentSettings, Settings
from tests.conftest import SIGNING_KEY

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    base_url: str
    db: Database
    settings: Settings

    def drain(self) -> None:
        jobs.drain(self.db, self.settings)

    def mailbox(self, to: str) -> list[dict[str, Any]]:
        self.drain()
        resp = httpx.get(f"{self.base_url}/dev/mailbox", params={"to": to}, timeout=10)
        items: list[dict[str, Any]] = resp.json()["items"]
        return items


@pytest.fixture(scope="module")
def served(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        env="dev",
        var_dir=tmp_path_factory.mktemp("served"),
        base_url=base_url,
        secret_key=SecretStr("browser-test-secret-0123456789abcdef"),
        cron_secret=SecretStr("browser-test-cron"),
        run_worker_in_process=False,
        auth=AuthSettings(signing_keys=[SecretStr(SIGNING_KEY)]),
        payments=PaymentSettings(dev_webhook_secret=SecretStr("dev-webhook-secret")),
    )
    db = Database(engine)
    app = create_app(settings, db, run_worker=False)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Served(base_url, db, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        with engine.begin() as conn:
            tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
            if engine.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
            else:
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) at 390x844, with errors collected."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    # Generous: the box running the suite may be loaded (ReDoc's bundle parses slowly).
    page.set_default_timeout(60_000)
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on(
        "response",
        lambda r: page.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def shoot() -> Callable[[Any, str], None]:
    """Screenshots of the page at phone and desktop width into docs/screens/, when
    ADMITONE_SCREENS=1 (so an ordinary test run leaves the tree as it was)."""

    def take(page: Any, name: str) -> None:
        if os.environ.get("ADMITONE_SCREENS") != "1":
            return
        SCREENS.mkdir(parents=True, exist_ok=True)
        size = page.viewport_size
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(SCREENS / f"{name}-phone.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.screenshot(path=str(SCREENS / f"{name}-desktop.png"), full_page=True)
        page.set_viewport_size(size)

    return take
