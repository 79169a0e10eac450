"""Shared fixtures: one migrated database per xdist worker, rolled back per test.

SQLite by default; set ADMITONE_TEST_DATABASE_URL=postgresql://... to run the same suite
on PostgreSQL (CI does both). A database that cannot be reached fails the run loudly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from limits.storage.memory import MemoryStorage
from pydantic import SecretStr
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from admitone import domains
from admitone.app import create_app
from admitone.core import jobs
from admitone.core.db import Base, Database, make_engine, normalize_url
from admitone.migrate import upgrade
from admitone.settings import AuthSettings, PaymentSettings, Settings, new_signing_key_pem

PG_URL = os.environ.get("ADMITONE_TEST_DATABASE_URL")
SIGNING_KEY = new_signing_key_pem()

domains.load_models()
domains.load_jobs()


@pytest.fixture(autouse=True, scope="session")
def _rate_limit_expiry_in_the_calling_thread() -> Iterator[None]:
    """limits' memory storage expires its entries on a timer thread 10 ms after each hit
    (and once after it is made). A test travelling in time with time_machine (ticking) can
    end its travel while that thread reads the clock, and time_machine then raises in the
    thread: a teardown error in an unrelated test (seen once in CI, in
    `test_expired_magic_link_is_refused`). In tests the expiry runs in the hitting thread
    instead; what is counted is unchanged (the moving window reads the entries' times)."""

    def expire_now(storage: MemoryStorage) -> None:
        storage._MemoryStorage__expire_events()  # type: ignore[attr-defined]

    def make(storage: MemoryStorage, *args: Any, **kwargs: Any) -> None:
        made(storage, *args, **kwargs)
        storage.timer.cancel()

    made = MemoryStorage.__init__
    patch = pytest.MonkeyPatch()
    patch.setattr(MemoryStorage, "_MemoryStorage__schedule_expiry", expire_now)
    patch.setattr(MemoryStorage, "__init__", make)
    yield
    patch.undo()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if PG_URL:
        return
    skip = pytest.mark.skip(reason="PostgreSQL only: set ADMITONE_TEST_DATABASE_URL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def database_url(worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    admin_url = make_url(normalize_url(PG_URL))
    name = f"admitone_test_{uuid.uuid4().hex[:8]}_{worker_id}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Database]:
    """A Database whose commits are savepoints inside one transaction rolled back after the
    test: fast isolation for everything that does not need other connections."""
    conn = engine.connect()
    outer = conn.begin()
    try:
        yield Database(conn)
    finally:
        outer.rollback()
        conn.close()


@pytest.fixture
def committed_db(engine: Engine) -> Iterator[Database]:
    """A Database with real commits and its own pool (concurrency tests); every table is
    emptied afterwards."""
    database = Database(engine)
    yield database
    with engine.begin() as conn:
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        env="dev",
        var_dir=tmp_path,
        base_url="http://testserver",
        secret_key=SecretStr("test-secret-key-0123456789abcdef"),
        cron_secret=SecretStr("test-cron-secret"),
        run_worker_in_process=False,
        auth=AuthSettings(
            signing_keys=[SecretStr(SIGNING_KEY)],
            allowed_redirect_origins=["http://testserver", "https://app.admitone.test"],
        ),
        payments=PaymentSettings(dev_webhook_secret=SecretStr("dev-webhook-secret")),
    )


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db, run_worker=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def run_jobs(db: Database, settings: Settings):  # type: ignore[no-untyped-def]
    """Runs every due job now, deterministically; returns how many ran."""
    return lambda: jobs.drain(db, settings)
