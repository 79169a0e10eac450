"""Faults of the outside world: the answers stay clear and the platform recovers alone."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from admitone.app import create_app
from admitone.core.db import Database
from admitone.settings import Settings


@pytest.mark.postgres
@pytest.mark.committed
def test_cut_database_connections_answer_503_then_the_pool_recovers(
    committed_db: Database, database_url: str, settings: Settings
) -> None:
    with TestClient(create_app(settings, committed_db, run_worker=False)) as client:
        assert client.get("/api/v1/public/events").status_code == 200
        name = make_url(database_url).database
        admin = create_engine(make_url(database_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            cut = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).scalar_one()
        admin.dispose()
        assert cut >= 1
        statuses = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            resp = client.get("/api/v1/public/events")
            statuses.append(resp.status_code)
            if resp.status_code == 503:
                assert resp.json()["code"] == "database_unavailable"
                assert resp.headers["retry-after"] == "2"
                assert "traceback" not in resp.text.lower()
            if resp.status_code == 200:
                break
        assert set(statuses) <= {200, 503}, statuses
        assert statuses[0] == 503, statuses  # the request that met a cut connection
        assert statuses[-1] == 200, f"the pool did not recover: {statuses}"
