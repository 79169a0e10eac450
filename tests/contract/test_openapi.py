"""The OpenAPI document says what the server does (issue 12 §7), and the runtime behaviours
it describes hold: problems, 401s, 405's Allow, 413's shape, 500's request id, dev-only
routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from admitone.app import create_app
from admitone.core.db import Database
from admitone.settings import Settings

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    ]


def test_every_problem_is_declared_as_problem_json(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    checked = 0
    for method, path, op in _operations(document):
        for status, response in op["responses"].items():
            if status[0] in "45" and (method, path, status) != ("GET", "/health/ready", "503"):
                assert response.get("content") == PROBLEM, (method, path, status)
                checked += 1
    assert checked > 300


def test_401_is_declared_on_every_bearer_operation_and_optional_auth_is_said(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    bearer = [(m, p, op) for m, p, op in _operations(document) if op.get("security")]
    assert len(bearer) > 60
    for method, path, op in bearer:
        assert "401" in op["responses"], (method, path)
    optional = {
        (m, p)
        for m, p, op in bearer
        if {} in op["security"]  # an anonymous alternative
    }
    assert ("POST", "/api/v1/orders") in optional
    assert ("GET", "/support/v1/addons") in optional
    assert ("GET", "/api/v1/me") not in optional


def test_bodies_declare_400_and_413_ids_their_pattern(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for method, path, op in _operations(document):
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            assert {"400", "413"} <= set(op["responses"]), (method, path)
    event = document["paths"]["/api/v1/events/{event_id}"]["get"]["parameters"][0]["schema"]
    assert event["pattern"] == "^evt_[0-9A-HJKMNP-TV-Z]{26}$"
    apple = document["paths"]["/api/v1/auth/apple/notifications"]["post"]["responses"]
    assert "503" in apple
    description = document["info"]["description"]
    for step in ("Sign in", "Publish", "Buy", "Pay", "Scan"):
        assert step in description


def test_405_allow_names_every_method_of_the_path(client: TestClient) -> None:
    resp = client.put("/api/v1/events/evt_00000000000000000000000000")
    assert resp.status_code == 405
    assert resp.headers["content-type"] == "application/problem+json"
    assert set(resp.headers["allow"].split(", ")) == {"GET", "PATCH"}


def test_413_is_shaped_like_every_problem(client: TestClient, settings: Settings) -> None:
    resp = client.post(
        "/api/v1/workspaces",
        content=b"x" * (settings.max_body_bytes + 1),
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 413
    body = resp.json()
    assert body["code"] == "payload_too_large"
    assert body["title"] == "Payload too large"  # human, the code apart
    assert body["request_id"] == resp.headers["x-request-id"]


def test_500_carries_the_request_id_in_body_and_header(app: FastAPI) -> None:
    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/test-boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        resp = client.get("/test-boom", headers={"X-Request-ID": "req-500-test"})
    assert resp.status_code == 500
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.headers["x-request-id"] == "req-500-test"
    assert resp.json()["request_id"] == "req-500-test"
    assert resp.json()["code"] == "internal_error"
    assert "a bug" not in resp.text


def test_dev_mailbox_is_refused_outside_dev(settings: Settings, db: Database) -> None:
    with TestClient(create_app(settings, db, run_worker=False)) as dev:
        assert dev.get("/dev/mailbox").status_code == 200
    for env in ("test", "production"):
        outside = settings.model_copy(update={"env": env})
        with TestClient(create_app(outside, db, run_worker=False)) as client:
            resp = client.get("/dev/mailbox")
            assert resp.status_code == 404, env
            assert resp.json()["code"] == "not_found"
            assert "/dev/mailbox" not in client.get("/openapi.json").json()["paths"]
