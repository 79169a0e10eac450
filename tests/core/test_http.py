"""The HTTP contract every surface shares: problem+json, request ids, limits, health."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"


def test_unknown_route_is_a_problem_with_code(client: TestClient) -> None:
    resp = client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == PROBLEM
    body = resp.json()
    assert body["code"] == "not_found"
    assert body["status"] == 404
    assert body["request_id"] == resp.headers["x-request-id"]


def test_wrong_method_is_405_problem(client: TestClient) -> None:
    resp = client.delete("/health")
    assert resp.status_code == 405
    assert resp.json()["code"] == "method_not_allowed"


def test_request_id_is_kept_when_sane_and_replaced_when_not(client: TestClient) -> None:
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    hostile = client.get("/health", headers={"X-Request-ID": "<script>" * 20})
    assert hostile.headers["x-request-id"] != "<script>" * 20
    assert len(hostile.headers["x-request-id"]) == 26


def test_oversized_body_is_413_problem(client: TestClient) -> None:
    resp = client.post(
        "/cron/anything", content=b"x" * 2_000_000, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 413
    assert resp.json()["code"] == "payload_too_large"


def test_oversized_chunked_body_is_413_not_a_parse_error(client: TestClient) -> None:
    """No Content-Length: the body is counted as it arrives and cut off past the limit
    (FastAPI would report the cut as a 400 "error parsing the body")."""

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * 50_000

    resp = client.post(
        "/api/v1/auth/otp/start", content=chunks(), headers={"content-type": "application/json"}
    )
    assert resp.request.headers["transfer-encoding"] == "chunked"
    assert resp.status_code == 413
    assert resp.json()["code"] == "payload_too_large"


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"]["ok"] is True


def test_cron_route_requires_the_bearer_secret(client: TestClient) -> None:
    assert client.post("/cron/jobs.purge").status_code == 401
    wrong = client.post("/cron/jobs.purge", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "unauthorized"
    unknown = client.post("/cron/nope", headers={"Authorization": "Bearer test-cron-secret"})
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "cron_not_found"


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "Admit One"
    assert client.get("/docs").status_code == 200
