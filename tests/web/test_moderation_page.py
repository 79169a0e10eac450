"""`/manage/moderation` through HTTP: a moderator sees the reported DP with its reasons and
takes it down from the page (CSRF-checked); a stranger is told they moderate nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from admitone.core.db import Database
from admitone.settings import Settings
from tests.dp.conftest import add_template, create_campaign, generate
from tests.factories import (
    auth_headers,
    grant_platform_role,
    make_event,
    make_organization,
    make_user,
)
from tests.web.test_pages import csrf, mail, sign_in

__all__ = ["mail"]  # the fixture, used by name


def _reported_dp(client: TestClient, db: Database, settings: Settings, run_jobs: Any) -> str:
    def seed(session: Session) -> dict[str, Any]:
        owner = make_user(session)
        org = make_organization(session, owner)
        event = make_event(session, org, status="published")
        moderator = make_user(session, email="mod@example.com")
        grant_platform_role(session, moderator, "moderator")
        return {"event_id": event.id, "headers": auth_headers(session, settings, owner)}

    w = db.mutation(seed)
    campaign = create_campaign(client, w["headers"], w["event_id"])
    template = add_template(client, w["headers"], campaign["id"]).json()
    client.post(f"/api/v1/dp-campaigns/{campaign['id']}/publish", headers=w["headers"])
    made = generate(client, campaign["id"], template["id"], share_to_hub=True).json()
    run_jobs()
    reported = client.post(
        f"/api/v1/public/dps/{made['id']}/report", json={"reason": "Not <b>mine</b>"}
    )
    assert reported.status_code == 201
    return str(made["id"])


def test_a_moderator_takes_a_reported_dp_down_from_the_queue_page(
    client: TestClient,
    db: Database,
    settings: Settings,
    run_jobs: Any,
    mail: Callable[[str], dict[str, Any]],
) -> None:
    dp_id = _reported_dp(client, db, settings, run_jobs)
    assert client.get("/manage/moderation", follow_redirects=False).status_code == 303
    sign_in(client, mail, "mod@example.com")
    page = client.get("/manage/moderation")
    assert page.status_code == 200
    assert f'id="{dp_id}"' in page.text
    assert "Not &lt;b&gt;mine&lt;/b&gt;" in page.text  # escaped
    assert re.search(r'<label for="reason-[^"]+">', page.text)
    picture = client.get(f"/manage/moderation/dps/{dp_id}/image")
    assert picture.status_code == 200
    assert picture.headers["cache-control"] == "private, no-store"

    action = f"/manage/moderation/dps/{dp_id}/decide"
    forged = client.post(action, data={"action": "takedown", "csrf_token": "x" * 64})
    assert forged.status_code == 403
    done = client.post(
        action,
        data={"action": "takedown", "reason": "Spam", "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    after = client.get(done.headers["location"])
    assert "Taken down" in after.text
    assert f'id="{dp_id}"' not in after.text
    assert client.get(f"/api/v1/public/dps/{dp_id}/image").status_code == 404


def test_someone_without_a_moderator_role_is_told_so(
    client: TestClient, db: Database, mail: Callable[[str], dict[str, Any]]
) -> None:
    db.mutation(lambda s: make_user(s, email="plain@example.com"))
    sign_in(client, mail, "plain@example.com")
    page = client.get("/manage/moderation")
    assert page.status_code == 404
    assert "Platform moderators see every campaign" in page.text
