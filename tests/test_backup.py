"""A backup restores into a platform where every pass still scans (docs/deploy.md)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from admitone.app import create_app
from admitone.core.db import Database, make_engine
from admitone.settings import Settings
from tests.factories import (
    add_team_member,
    auth_headers,
    make_event,
    make_organization,
    make_tier,
    make_user,
)

pytestmark = [pytest.mark.postgres, pytest.mark.committed]


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_pg_dump_restored_into_a_new_database_scans_every_pass(
    committed_db: Database, database_url: str, settings: Settings, tmp_path: Path
) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.fail("pg_dump and pg_restore are needed (Debian: postgresql-client)")
    with committed_db.session() as session:
        owner = make_user(session)
        org = make_organization(session, owner)
        event = make_event(session, org)
        tier = make_tier(session, event, price_amount=0, capacity=50)
        staff = make_user(session)
        add_team_member(session, org, staff, "door_staff")
        staff_headers = auth_headers(session, settings, staff)
        event_id, tier_id = event.id, tier.id

    live = create_app(settings, committed_db, run_worker=False)
    payloads: list[str] = []
    with TestClient(live) as client:
        for i in range(3):
            placed = client.post(
                "/api/v1/orders",
                json={
                    "event_id": event_id,
                    "items": [{"tier_id": tier_id, "quantity": 2}],
                    "buyer": {"email": f"buyer{i}@example.com", "name": f"Buyer {i}"},
                },
            )
            assert placed.status_code == 201, placed.text
            assert placed.json()["status"] == "paid"
            payloads += [p["qr"] for p in placed.json()["passes"]]
    assert len(payloads) == 6

    dump = tmp_path / "live.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", "-f", str(dump), _libpq(database_url)],
        check=True,
        timeout=120,
    )
    name = f"admitone_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(database_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    restored_url = make_url(database_url).set(database=name).render_as_string(False)
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "-d", _libpq(restored_url), str(dump)],
            check=True,
            timeout=120,
        )
        restored = Database(make_engine(restored_url))
        try:
            with TestClient(create_app(settings, restored, run_worker=False)) as client:
                assert client.get("/health/ready").status_code == 200
                for qr in payloads:
                    scan = client.post(
                        f"/api/v1/events/{event_id}/checkins",
                        json={"code": qr},
                        headers=staff_headers,
                    )
                    assert scan.status_code == 200, scan.text
                    assert scan.json()["result"] == "accepted"
                again = client.post(
                    f"/api/v1/events/{event_id}/checkins",
                    json={"code": payloads[0]},
                    headers=staff_headers,
                )
                assert again.json()["result"] == "already_checked_in"
        finally:
            restored.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
