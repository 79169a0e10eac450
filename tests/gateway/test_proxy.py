"""The mobile gateway proxies /mobile/v1 to the support service, in-process or over HTTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from admitone.core.db import Database
from admitone.core.errors import Conflict
from admitone.settings import Settings
from tests.factories import auth_headers, make_user
from tests.integrations.payments.fakes import FakeProvider, Recorded

PROBLEM = "application/problem+json"


def _echo(request: Request, body: bytes) -> dict[str, Any]:
    return {
        "method": request.method,
        "raw_path": request.scope["raw_path"].decode(),
        "query": request.url.query,
        "body": body.decode(),
        "headers": {k: v for k, v in request.headers.items() if k != "host"},
        "client": request.client.host if request.client else None,
    }


@pytest.fixture
def echo_app(app: FastAPI) -> FastAPI:
    """The app with a support route that echoes what reached it."""
    router = APIRouter(prefix="/support/v1/gateway-echo")

    @router.api_route(
        "/{rest:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    async def echo(rest: str, request: Request) -> JSONResponse:
        if rest == "conflict":
            raise Conflict("Already done.", thing="x")
        seen = _echo(request, await request.body())
        return JSONResponse(
            seen,
            status_code=201 if request.method == "POST" else 200,
            headers={"Location": "/support/v1/gateway-echo/1", "Set-Cookie": "s=1", "ETag": '"v1"'},
        )

    app.include_router(router)
    return app


@pytest.fixture
def gateway(echo_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(echo_app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def bearer(db: Database, settings: Settings) -> str:
    headers = db.mutation(lambda s: auth_headers(s, settings, make_user(s)))
    return headers["Authorization"]


def test_a_get_reaches_the_support_service_with_query_authorization_and_request_id(
    gateway: TestClient, bearer: str
) -> None:
    resp = gateway.get(
        "/mobile/v1/gateway-echo/a/b%2Fc?x=1&y=%20z&x=2",
        headers={
            "Authorization": bearer,
            "X-Request-ID": "rid-123",
            "Cookie": "session=secret",
            "X-Internal": "no",
        },
    )

    assert resp.status_code == 200, resp.text
    seen = resp.json()
    assert seen["method"] == "GET"
    assert seen["raw_path"] == "/support/v1/gateway-echo/a/b%2Fc"
    assert seen["query"] == "x=1&y=%20z&x=2"
    assert seen["headers"]["authorization"] == bearer
    assert seen["headers"]["x-request-id"] == "rid-123"
    assert seen["headers"]["x-forwarded-prefix"] == "/mobile/v1"
    assert "cookie" not in seen["headers"]
    assert "x-internal" not in seen["headers"]
    assert resp.headers["x-request-id"] == "rid-123"


def test_a_post_body_status_and_safe_headers_come_back_unchanged(gateway: TestClient) -> None:
    resp = gateway.post(
        "/mobile/v1/gateway-echo/orders",
        json={"tier_id": "tir_1", "quantity": 2},
        headers={"Idempotency-Key": "k-1"},
    )

    assert resp.status_code == 201
    seen = resp.json()
    assert seen["body"] == '{"tier_id":"tir_1","quantity":2}'
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["idempotency-key"] == "k-1"
    assert resp.headers["location"] == "/support/v1/gateway-echo/1"
    assert resp.headers["etag"] == '"v1"'
    assert "set-cookie" not in resp.headers


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_every_method_is_forwarded(gateway: TestClient, method: str) -> None:
    resp = gateway.request(method, "/mobile/v1/gateway-echo/x", content=b"payload")
    assert resp.json()["method"] == method
    assert resp.json()["body"] == "payload"


def test_an_upstream_problem_passes_through_with_its_status_and_code(gateway: TestClient) -> None:
    resp = gateway.post("/mobile/v1/gateway-echo/conflict")
    assert resp.status_code == 409
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json()["code"] == "conflict"
    assert resp.json()["thing"] == "x"


def test_an_unknown_support_route_is_a_404_problem(gateway: TestClient) -> None:
    resp = gateway.get("/mobile/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "path",
    [
        "/mobile/v1/gateway-echo/%2e%2e/x",
        "/mobile/v1/gateway-echo/%2E/x",
        "/mobile/v1/gateway-echo/..%2Fx",
        "/mobile/v1/gateway-echo/..%5Cx",
    ],
)
def test_dot_segments_cannot_climb_out_of_the_support_service(
    gateway: TestClient, path: str
) -> None:
    # Everything under gateway-echo/ would echo with 200: a 404 means the gateway refused.
    assert gateway.get("/mobile/v1/gateway-echo/fine%2Fx").status_code == 200
    resp = gateway.get(path)
    assert resp.status_code == 404
    assert resp.headers["content-type"] == PROBLEM


def test_a_real_support_route_answers_through_the_gateway(gateway: TestClient) -> None:
    # The payments webhook refuses an unsigned body: the refusal comes from the real route.
    resp = gateway.post("/mobile/v1/payments/webhooks/dev", content=b"{}")
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_signature"


# --- an upstream over HTTP ---------------------------------------------------------------


class EchoUpstream(FakeProvider):
    def route(self, req: Recorded) -> tuple[int, dict[str, Any]]:
        return 200, {"path": req.path, "query": req.query, "headers": req.headers}


@pytest.fixture
def upstream(settings: Settings) -> Iterator[EchoUpstream]:
    with EchoUpstream() as server:
        settings.gateway_upstream = server.url
        yield server


def test_with_an_upstream_url_the_request_goes_over_http(
    gateway: TestClient, upstream: EchoUpstream, bearer: str
) -> None:
    resp = gateway.get(
        "/mobile/v1/orders/ord_1?expand=items",
        headers={"Authorization": bearer, "X-Request-ID": "rid-9"},
    )
    assert resp.status_code == 200
    assert resp.json()["path"] == "/support/v1/orders/ord_1"
    assert resp.json()["query"] == {"expand": "items"}
    sent = upstream.requests[-1]
    assert sent.headers["authorization"] == bearer
    assert sent.headers["x-request-id"] == "rid-9"
    assert sent.headers["x-forwarded-for"] == "testclient"


def test_over_http_bodies_and_answers_pass_and_a_forged_identity_never_does(
    gateway: TestClient, upstream: EchoUpstream, bearer: str
) -> None:
    forged = "v1.usr_X.sid_X.9999999999.forged"
    for n in range(3):  # one kept-alive connection serves them in turn
        resp = gateway.post(
            f"/mobile/v1/things/{n}?a=1&a=2",
            content=b'{"n": %d}' % n,
            headers={"Content-Type": "application/json", "X-Admitone-Identity": forged,
                     "Cookie": "s=1", "Idempotency-Key": f"k-{n}"},
        )  # fmt: skip
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "application/json"
        assert resp.json()["path"] == f"/support/v1/things/{n}"
        sent = upstream.requests[-1]
        assert (sent.method, sent.body, sent.query) == ("POST", b'{"n": %d}' % n, {"a": "2"})
        assert sent.headers["idempotency-key"] == f"k-{n}"
        assert sent.headers["x-forwarded-prefix"] == "/mobile/v1"
        assert "x-admitone-identity" not in sent.headers
        assert "cookie" not in sent.headers
    signed = gateway.get(
        "/mobile/v1/me", headers={"Authorization": bearer, "X-Admitone-Identity": forged}
    )
    assert signed.status_code == 200
    assert upstream.requests[-1].headers["x-admitone-identity"] != forged
    upstream.fail_next(503, body=b'{"code":"busy"}')
    failed = gateway.delete("/mobile/v1/things/1")
    assert (failed.status_code, failed.json()) == (503, {"code": "busy"})
    assert gateway.get("/mobile/v1/things/2").status_code == 200  # and the next one goes on


def test_an_upstream_that_does_not_answer_in_time_is_a_504_problem(
    gateway: TestClient, upstream: EchoUpstream, settings: Settings
) -> None:
    settings.gateway_timeout_seconds = 0.3
    upstream.hang_next(3.0)
    resp = gateway.get("/mobile/v1/anything")
    assert resp.status_code == 504
    assert resp.json()["code"] == "upstream_timeout"


def test_an_unreachable_upstream_is_a_502_problem(gateway: TestClient, settings: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.gateway_upstream = f"http://127.0.0.1:{port}"
    resp = gateway.get("/mobile/v1/anything")
    assert resp.status_code == 502
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json()["code"] == "upstream_unavailable"


def test_openapi_lists_each_gateway_method_once(gateway: TestClient) -> None:
    resp = gateway.get("/openapi.json")
    assert resp.status_code == 200
    operations = resp.json()["paths"]["/mobile/v1/{path}"]
    assert sorted(operations) == ["delete", "get", "patch", "post", "put"]
    assert len({op["operationId"] for op in operations.values()}) == 5
