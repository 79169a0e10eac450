"""The mobile gateway: `/mobile/v1/{path}` proxied to the support service's `/support/v1/{path}`.

The upstream is `settings.gateway_upstream` (a base URL such as `http://support:8000`) or,
when unset, this very app in-process through httpx's ASGITransport: one process serves
everything by default and a deployment can split the surfaces apart without a code change.
Async on purpose: the route only waits on I/O and holds no database session.
"""

from __future__ import annotations

import functools
import re
import ssl
from urllib.parse import unquote

import httpx
from fastapi import APIRouter, Request, Response

from admitone.core.http import client_ip
from admitone.gateway.errors import UpstreamPathRefused, UpstreamTimeout, UpstreamUnavailable
from admitone.settings import Settings

gateway_router = APIRouter(prefix="/mobile/v1", tags=["mobile gateway"])

UPSTREAM_PREFIX = "/support/v1/"

# An allow-list both ways: cookies, hop-by-hop and proxy headers from either side stay out.
REQUEST_HEADERS = (
    "authorization",
    "content-type",
    "accept",
    "accept-language",
    "idempotency-key",
    "if-none-match",
    "user-agent",
    "x-request-id",
)
RESPONSE_HEADERS = (
    "content-type",
    "cache-control",
    "etag",
    "location",
    "retry-after",
    "www-authenticate",
    "content-disposition",
)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


async def proxy(path: str, request: Request) -> Response:
    """Forwards method, path, query, body and the allow-listed headers; answers the
    upstream's status, body and allow-listed headers unchanged (problems included)."""
    settings: Settings = request.app.state.settings
    upstream_path = UPSTREAM_PREFIX + _raw_tail(request)
    headers = {k: v for k, v in request.headers.items() if k in REQUEST_HEADERS}
    headers["x-forwarded-for"] = client_ip(request)
    headers["x-forwarded-prefix"] = "/mobile/v1"
    if settings.gateway_upstream:
        # A fresh AsyncClient per request keeps no pool bound to one event loop, but it
        # must not rebuild the TLS context each time: that costs ~40 ms of CPU.
        transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(verify=_tls())
        base_url = settings.gateway_upstream.rstrip("/")
    else:
        transport = httpx.ASGITransport(
            app=request.app,
            client=(client_ip(request), request.client.port if request.client else 0),
        )
        base_url = "http://gateway.internal"
    async with httpx.AsyncClient(
        transport=transport,
        trust_env=False,
        base_url=base_url,
        timeout=httpx.Timeout(settings.gateway_timeout_seconds, connect=5.0),
        follow_redirects=False,
    ) as client:
        try:
            upstream = await client.request(
                request.method,
                httpx.URL(upstream_path, query=request.url.query.encode()),
                content=await request.body(),
                headers=headers,
            )
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout() from exc
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable() from exc
    return Response(
        content=upstream.content,
        status_code=upstream.status_code,
        headers={k: v for k, v in upstream.headers.items() if k in RESPONSE_HEADERS},
    )


# One route per method: FastAPI gives one operation id per route, and OpenAPI needs them
# unique (a shared id breaks /openapi.json).
for _method in METHODS:
    gateway_router.add_api_route(
        "/{path:path}",
        proxy,
        methods=[_method],
        operation_id=f"mobile_gateway_{_method.lower()}",
        summary=f"{_method} /support/v1/{{path}} through the mobile gateway",
        responses={
            502: {"description": "`upstream_unavailable`"},
            504: {"description": "`upstream_timeout`"},
        },
    )


@functools.cache
def _tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def _raw_tail(request: Request) -> str:
    """The path after /mobile/v1/, still percent-encoded as the client sent it, so an
    encoded `/` inside a segment stays inside it. Dot segments are refused: the upstream
    (or a proxy in front of it) might resolve them out of /support/v1."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    tail = raw.decode("latin-1").split("?", 1)[0]
    tail = tail[len("/mobile/v1/") :] if tail.startswith("/mobile/v1/") else ""
    # Decoded first, and `\\` too: some servers turn %2F and backslashes into separators.
    if any(segment in (".", "..") for segment in re.split(r"[/\\]", unquote(tail))):
        raise UpstreamPathRefused()
    return tail
