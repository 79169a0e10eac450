"""The SMTP server down, then back.

Invariant: orders are placed (201) while nothing listens on the SMTP port; the confirmation
job fails and is retried with backoff, its state visible on the job row and the delivery
row; when the server comes back the message is delivered exactly once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import text

from admitone.app import create_app
from admitone.core.db import Database
from admitone.settings import Settings
from tests.factories import make_event, make_organization, make_tier, make_user
from tests.faults.conftest import Processes, StallingSmtp, free_port, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.faults]


def _one(db: Database, sql: str) -> Any:
    with db.bind.connect() as conn:
        return conn.execute(text(sql)).mappings().first()


def test_orders_are_placed_while_smtp_is_down_and_mail_goes_out_once_when_it_returns(
    committed_db: Database, processes: Processes, settings: Settings
) -> None:
    with committed_db.session() as session:
        org = make_organization(session, make_user(session))
        event = make_event(session, org)
        tier = make_tier(session, event, price_amount=0, capacity=10)
        event_id, tier_id = event.id, tier.id

    smtp = StallingSmtp(port=free_port())  # nothing listens there yet
    with TestClient(create_app(settings, committed_db, run_worker=False)) as client:
        placed = client.post(
            "/api/v1/orders",
            json={
                "event_id": event_id,
                "items": [{"tier_id": tier_id, "quantity": 1}],
                "buyer": {"email": "buyer@example.com", "name": "Buyer"},
            },
        )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]

    processes.start(
        "worker",
        # The test's app sealed the job's context with this key.
        ADMITONE_SECRET_KEY=settings.secret_key.get_secret_value() if settings.secret_key else "",
        ADMITONE_MAIL__TRANSPORT="smtp",
        ADMITONE_MAIL__SMTP_PORT=str(smtp.port),
        ADMITONE_MAIL__TIMEOUT_SECONDS="5",
    )
    job_sql = "SELECT * FROM jobs WHERE name = 'emails.send'"
    # Two failed attempts: the job went back to the queue once already, with a delay.
    failing = wait_for(
        lambda: (
            (row := _one(committed_db, job_sql))["attempts"] >= 2
            and row["status"] == "queued"
            and row
        ),
        60,
        f"two failed attempts\n{processes.logs()}",
    )
    assert "SMTP delivery" in failing["last_error"]
    assert failing["run_at"] > failing["updated_at"]  # backoff: due later, not at once
    assert failing["run_at"] - failing["updated_at"] <= timedelta(seconds=8)
    delivery = _one(committed_db, "SELECT * FROM email_deliveries")
    assert delivery["status"] == "failed"
    assert "SMTP delivery" in delivery["last_error"]
    assert delivery["recipient"] == "buyer@example.com"

    controller = Controller(smtp, hostname="127.0.0.1", port=smtp.port)
    controller.start()
    try:
        done = wait_for(
            lambda: (row := _one(committed_db, job_sql))["status"] == "done" and row,
            90,
            f"the job to succeed once SMTP is back\n{processes.logs()}",
        )
    finally:
        controller.stop()
    assert len(smtp.delivered) == 1
    assert order_id in smtp.delivered[0].as_string()
    delivery = _one(committed_db, "SELECT * FROM email_deliveries")
    assert delivery["status"] == "sent"
    assert delivery["last_error"] is None
    assert delivery["attempts"] == done["attempts"] >= 3
