"""Railway deployment ingest, release notes, the public feed and `releases/at`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from admitone.app import create_app
from admitone.core import jobs as job_queue
from admitone.core.db import Database
from admitone.core.jobs import Job
from admitone.notifications.models import Notification
from admitone.releases.models import DeploymentEvent, Release
from admitone.settings import ReleaseSettings, Settings
from tests.factories import auth_headers, grant_platform_role, make_user

SECRET = "railway-hook-secret-0123456789"
HOOK = f"/hooks/railway/{SECRET}"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def current(state: str, deployment: str = "dep-1", at: datetime = T0, **details: Any) -> dict:
    return {
        "type": f"Deployment.{state}",
        "details": {
            "id": deployment,
            "source": "GitHub",
            "status": "SUCCESS",  # Railway's own example contradicts `type`; type wins
            "branch": "main",
            "commitHash": "abc123",
            "commitAuthor": "ada",
            "commitMessage": "Faster door",
            **details,
        },
        "resource": {
            "workspace": {"id": "ws", "name": "Acme"},
            "project": {"id": "prj-1", "name": "admitone"},
            "environment": {"id": "env-1", "name": "production", "isEphemeral": False},
            "service": {"id": "svc-1", "name": "api"},
            "deployment": {"id": deployment},
        },
        "severity": "INFO",
        "timestamp": at.isoformat().replace("+00:00", "Z"),
    }


def legacy(deployment: str = "dep-legacy", status: str = "SUCCESS") -> dict:
    return {
        "type": "DEPLOY",
        "timestamp": T0.isoformat(),
        "status": status,
        "project": {"id": "prj-1", "name": "admitone", "description": "", "createdAt": "x"},
        "environment": {"id": "env-1", "name": "production"},
        "deployment": {
            "id": deployment,
            "creator": {"id": "u1", "name": "Grace", "avatar": ""},
            "meta": {"commitHash": "def456", "branch": "main", "commitMessage": "Legacy"},
        },
    }


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"releases": ReleaseSettings(railway_webhook_secret=SecretStr(SECRET))}
    )


@pytest.fixture
def hook_client(hook_settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(hook_settings, db, run_worker=False)) as client:
        yield client


def _release(db: Database, deployment: str) -> Release:
    return db.query(
        lambda s: s.scalars(select(Release).where(Release.deployment_id == deployment)).one()
    )


def test_the_current_format_records_the_event_and_its_release(
    hook_client: TestClient, db: Database
) -> None:
    resp = hook_client.post(HOOK, json=current("deployed"))
    assert resp.status_code == 202
    assert resp.json() == {"status": "accepted", "duplicate": False}
    release = _release(db, "dep-1")
    assert (release.status, release.commit_sha, release.branch, release.author) == (
        "SUCCESS",
        "abc123",
        "main",
        "ada",
    )
    assert (release.service_name, release.environment_name) == ("api", "production")
    assert release.live_at == T0
    event = db.query(lambda s: s.scalars(select(DeploymentEvent)).one())
    assert event.format == "current"
    assert event.event_type == "Deployment.deployed"
    assert json.loads(event.raw_body)["details"]["commitMessage"] == "Faster door"
    assert event.secret_ok is True
    assert event.api_confirmed is None


def test_the_legacy_format_is_accepted(hook_client: TestClient, db: Database) -> None:
    assert hook_client.post(HOOK, json=legacy()).status_code == 202
    release = _release(db, "dep-legacy")
    assert (release.status, release.commit_sha, release.author) == ("SUCCESS", "def456", "Grace")


def test_a_replay_is_deduped(hook_client: TestClient, db: Database) -> None:
    first = hook_client.post(HOOK, json=current("failed"))
    second = hook_client.post(HOOK, json=current("failed"))
    assert first.json()["duplicate"] is False
    assert second.json()["duplicate"] is True
    assert db.query(lambda s: s.scalar(select(func.count()).select_from(DeploymentEvent))) == 1


def test_a_wrong_secret_is_an_unknown_route(hook_client: TestClient) -> None:
    wrong = hook_client.post("/hooks/railway/guess", json=current("deployed"))
    unknown = hook_client.post("/hooks/nothing-here", json={})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json()["code"] == unknown.json()["code"] == "not_found"


def test_no_secret_configured_refuses_every_call(client: TestClient, settings: Settings) -> None:
    assert settings.releases.railway_webhook_secret is None
    assert client.post("/hooks/railway/anything", json=current("deployed")).status_code == 404


def test_a_body_it_cannot_read_is_kept_not_applied(hook_client: TestClient, db: Database) -> None:
    resp = hook_client.post(HOOK, content=b"{not json", headers={"content-type": "text/plain"})
    assert resp.status_code == 202
    alert = hook_client.post(HOOK, json={"type": "VolumeAlert.triggered", "details": {}})
    assert alert.status_code == 202
    events = db.query(lambda s: list(s.scalars(select(DeploymentEvent))))
    assert sorted(e.format for e in events) == ["unknown", "unknown"]
    assert db.query(lambda s: s.scalar(select(func.count()).select_from(Release))) == 0


def test_an_older_event_arriving_late_does_not_roll_the_status_back(
    hook_client: TestClient, db: Database
) -> None:
    hook_client.post(HOOK, json=current("deployed", at=T0 + timedelta(minutes=5)))
    hook_client.post(HOOK, json=current("building", at=T0))
    release = _release(db, "dep-1")
    assert release.status == "SUCCESS"
    assert release.live_at == T0 + timedelta(minutes=5)


def test_a_failed_deployment_notifies_release_managers_by_job(
    hook_client: TestClient, db: Database, settings: Settings
) -> None:
    def manager(session: Any) -> str:
        user = make_user(session)
        grant_platform_role(session, user, "release_manager")
        return str(user.id)

    manager_id = db.mutation(manager)
    hook_client.post(HOOK, json=current("crashed"))
    jobs = db.query(lambda s: list(s.scalars(select(Job).where(Job.name.like("notifications.%")))))
    assert [(j.args["kind"], j.args["data"]["status"]) for j in jobs] == [
        ("deployment_failed", "CRASHED")
    ]
    assert jobs[0].args["audience"] == {"platform_role": "release_manager"}
    job_queue.drain(db, settings)
    inbox = db.query(
        lambda s: list(s.scalars(select(Notification).where(Notification.user_id == manager_id)))
    )
    assert [n.kind for n in inbox] == ["deployment_failed"]


class _GraphQL(BaseHTTPRequestHandler):
    seen: list[tuple[dict[str, Any], str | None]] = []
    statuses: dict[str, str] = {}

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).seen.append((body, self.headers.get("Project-Access-Token")))
        deployment_id = body["variables"]["id"]
        status = type(self).statuses.get(deployment_id)
        node = None if status is None else {"id": deployment_id, "status": status, "meta": {}}
        payload = json.dumps({"data": {"deployment": node}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def railway_api() -> Iterator[str]:
    _GraphQL.seen = []
    _GraphQL.statuses = {"dep-1": "SUCCESS"}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GraphQL)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/graphql/v2"
    server.shutdown()


def test_a_project_token_rechecks_each_event_through_the_graphql_api(
    hook_settings: Settings, db: Database, railway_api: str
) -> None:
    checked = hook_settings.model_copy(
        update={
            "releases": hook_settings.releases.model_copy(
                update={
                    "railway_project_token": SecretStr("project-token"),
                    "railway_api_url": railway_api,
                }
            )
        }
    )
    with TestClient(create_app(checked, db, run_worker=False)) as client:
        client.post(HOOK, json=current("deploying"))  # the body says deploying ...
        client.post(HOOK, json=current("deploying", deployment="dep-ghost"))
    job_queue.drain(db, checked)
    body, token = _GraphQL.seen[0]
    assert token == "project-token"
    assert "deployment(id: $id)" in body["query"]
    assert {b["variables"]["id"] for b, _ in _GraphQL.seen} == {"dep-1", "dep-ghost"}
    release = _release(db, "dep-1")
    assert (release.status, release.api_confirmed) == ("SUCCESS", True)  # ... the API: live
    ghost = _release(db, "dep-ghost")
    assert (ghost.status, ghost.api_confirmed) == ("DEPLOYING", False)


@pytest.fixture
def manager(db: Database, settings: Settings) -> dict[str, str]:
    def make(session: Any) -> dict[str, str]:
        user = make_user(session)
        grant_platform_role(session, user, "release_manager")
        return auth_headers(session, settings, user)

    return db.mutation(make)


def test_release_managers_publish_notes_to_the_public_feed(
    hook_client: TestClient, db: Database, manager: dict[str, str], settings: Settings
) -> None:
    hook_client.post(HOOK, json=current("deployed"))
    hook_client.post(HOOK, json=current("deployed", deployment="dep-2"))
    listed = hook_client.get("/api/v1/releases", headers=manager)
    assert listed.status_code == 200
    assert {r["deployment_id"] for r in listed.json()["items"]} == {"dep-1", "dep-2"}
    release_id = _release(db, "dep-1").id
    assert hook_client.get("/api/v1/public/releases").json()["items"] == []
    edited = hook_client.patch(
        f"/api/v1/releases/{release_id}",
        json={"notes": "Door scans are twice as fast.", "published": True},
        headers=manager,
    )
    assert edited.status_code == 200
    assert edited.json()["is_published"] is True
    feed = hook_client.get("/api/v1/public/releases").json()["items"]
    assert [(r["id"], r["notes"]) for r in feed] == [(release_id, "Door scans are twice as fast.")]

    stranger = db.mutation(lambda s: auth_headers(s, settings, make_user(s)))
    refused = hook_client.patch(
        f"/api/v1/releases/{release_id}", json={"published": False}, headers=stranger
    )
    assert refused.status_code in (403, 404)
    assert hook_client.get("/api/v1/releases").status_code == 401


def test_releases_at_names_the_release_live_at_a_time(
    hook_client: TestClient, manager: dict[str, str]
) -> None:
    hook_client.post(HOOK, json=current("deployed", deployment="dep-a", at=T0))
    hook_client.post(HOOK, json=current("deployed", deployment="dep-b", at=T0 + timedelta(hours=2)))
    hook_client.post(HOOK, json=current("failed", deployment="dep-c", at=T0 + timedelta(hours=3)))

    def at(moment: datetime) -> Any:
        return hook_client.get(
            "/api/v1/releases/at", params={"time": moment.isoformat()}, headers=manager
        )

    assert at(T0 + timedelta(hours=1)).json()["deployment_id"] == "dep-a"
    assert at(T0 + timedelta(hours=4)).json()["deployment_id"] == "dep-b"  # c never went live
    before = at(T0 - timedelta(hours=1))
    assert before.status_code == 404
    assert before.json()["code"] == "no_live_release"
    naive = hook_client.get(
        "/api/v1/releases/at", params={"time": "2026-12-01T12:00:00"}, headers=manager
    )
    assert naive.status_code == 422


def test_the_running_process_reports_its_own_release(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "RAILWAY_DEPLOYMENT_ID": "dep-self",
        "RAILWAY_GIT_COMMIT_SHA": "feedbeef",
        "RAILWAY_GIT_BRANCH": "main",
        "RAILWAY_GIT_AUTHOR": "lin",
        "RAILWAY_GIT_COMMIT_MESSAGE": "Ship it",
        "RAILWAY_SERVICE_NAME": "api",
        "RAILWAY_ENVIRONMENT_NAME": "production",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app: FastAPI = create_app(settings, db, run_worker=False)
    with TestClient(app):
        pass
    release = _release(db, "dep-self")
    assert (release.source, release.status, release.commit_sha, release.message) == (
        "self",
        "SUCCESS",
        "feedbeef",
        "Ship it",
    )
    assert release.live_at is not None


@pytest.mark.postgres
@pytest.mark.committed
def test_concurrent_replays_record_one_event_and_one_release(
    committed_db: Database, hook_settings: Settings
) -> None:
    app = create_app(hook_settings, committed_db, run_worker=False)
    results: list[int] = []
    barrier = threading.Barrier(6)

    def deliver() -> None:
        with TestClient(app) as client:
            barrier.wait()
            results.append(
                client.post(HOOK, json=current("deployed", deployment="dep-x")).status_code
            )

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [202] * 6
    count = committed_db.query(
        lambda s: (
            s.scalar(select(func.count()).select_from(DeploymentEvent)),
            s.scalar(select(func.count()).select_from(Release)),
        )
    )
    assert count == (1, 1)
