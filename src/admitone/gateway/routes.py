"""The mobile gateway: `/mobile/v1/{path}` proxied to the support service's `/support/v1/{path}`.

The upstream is `settings.gateway_upstream` (a base URL such as `http://support:8000`) or,
when unset, this very app in-process through httpx's ASGITransport: one process serves
everything by default and a deployment can split the surfaces apart without a code change.

The gateway guards before it forwards: the caller's access token and session are verified
here (401 before any upstream call), per-user and per-IP rate limits answer 429 with
`Retry-After`, client-sent identity headers never pass, and the support service receives a
signed, short-lived `X-Admitone-Identity` instead (`auth/internal.py`). Bodies stream both
ways (a 20 MB photo or a PDF is never held whole), through one pooled client per process.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
from collections.abc import AsyncIterator
from urllib.parse import unquote

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import StreamingResponse
from limits import RateLimitItem, parse_many
from starlette.background import BackgroundTask

from admitone.auth import internal
from admitone.auth.deps import Actor, bearer_actor
from admitone.core.errors import RateLimited
from admitone.core.http import client_ip, request_id_var
from admitone.core.ratelimit import Limiter
from admitone.gateway.errors import UpstreamPathRefused, UpstreamTimeout, UpstreamUnavailable
from admitone.gateway.upstream import Pool
from admitone.settings import Settings

gateway_router = APIRouter(prefix="/mobile/v1", tags=["mobile gateway"])

UPSTREAM_PREFIX = "/support/v1/"

# An allow-list both ways: cookies, hop-by-hop, proxy and identity headers from either side
# stay out (a client's own `X-Admitone-Identity` never reaches the support service).
REQUEST_HEADERS = (
    "authorization",
    "content-type",
    "content-length",
    "accept",
    "accept-language",
    "idempotency-key",
    "if-none-match",
    "if-modified-since",
    "user-agent",
)
RESPONSE_HEADERS = (
    "content-type",
    "content-length",
    "cache-control",
    "etag",
    "last-modified",
    "location",
    "retry-after",
    "www-authenticate",
    "content-disposition",
)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class _Guard:
    """Per-process state of the gateway: its rate limiter and its pooled upstream clients
    (one per event loop; a server process has one loop)."""

    def __init__(self, settings: Settings) -> None:
        auth = settings.auth
        self.limiter = Limiter(auth.rate_limit_storage, f"{auth.rate_limit_namespace}:gateway")
        self.per_user: list[RateLimitItem] = parse_many(settings.gateway_limits_per_user)
        self.per_ip: list[RateLimitItem] = parse_many(settings.gateway_limits_per_ip)
        self.clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        # The lean path's keep-alive pools (gateway.middleware), per event loop and upstream.
        self.pools: dict[tuple[asyncio.AbstractEventLoop, str], Pool] = {}


def _guard(app: FastAPI) -> _Guard:
    guard: _Guard | None = getattr(app.state, "gateway_guard", None)
    if guard is None:
        guard = app.state.gateway_guard = _Guard(app.state.settings)
    return guard


async def admit_caller(request: Request) -> tuple[Actor | None, str]:
    """The caller verified (401 for a bad token or a revoked session) and counted against
    the per-address and per-user limits (429 past either); returns it and its address.
    Both proxy paths (this route and the lean middleware) start here."""
    actor = await bearer_actor(request)
    guard = _guard(request.app)
    ip = client_ip(request)
    waits = [guard.limiter.hit(guard.per_ip, "ip", ip)]
    if actor is not None:
        waits.append(guard.limiter.hit(guard.per_user, "user", actor.user_id))
    limited = [w for w in waits if w is not None]
    if limited:
        raise RateLimited(max(limited), "Too many requests through the mobile gateway.")
    return actor, ip


def _client(request: Request) -> tuple[httpx.AsyncClient, bool]:
    """The client for this request, and whether it is this request's own (to close after).
    Over HTTP: the process's pooled client. In-process: a client per request, so the
    support service sees the caller's own address (its per-IP limits stay per caller)."""
    settings: Settings = request.app.state.settings
    timeout = httpx.Timeout(settings.gateway_timeout_seconds, connect=5.0)
    if not settings.gateway_upstream:
        transport = httpx.ASGITransport(
            app=request.app,
            client=(client_ip(request), request.client.port if request.client else 0),
        )
        own = httpx.AsyncClient(
            transport=transport,
            trust_env=False,
            base_url="http://gateway.internal",
            timeout=timeout,
            follow_redirects=False,
        )
        return own, True
    guard = _guard(request.app)
    loop = asyncio.get_running_loop()
    client = guard.clients.get(loop)
    if client is None:
        pooled = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(verify=_tls(), limits=pooled),
            trust_env=False,
            base_url=settings.gateway_upstream.rstrip("/"),
            timeout=timeout,
            follow_redirects=False,
        )
        guard.clients[loop] = client
    return client, False


async def close_clients(app: FastAPI) -> None:
    """Closes the pooled upstream clients and connections (the app's shutdown)."""
    guard: _Guard | None = getattr(app.state, "gateway_guard", None)
    if guard is not None:
        pools, guard.pools = list(guard.pools.values()), {}
        for pool in pools:
            pool.close()
        clients, guard.clients = list(guard.clients.values()), {}
        for client in clients:
            await client.aclose()


async def proxy(path: str, request: Request) -> StreamingResponse:
    """Verifies the caller, limits their rate, and forwards method, path, query, body and the
    allow-listed headers; answers the upstream's status, body and allow-listed headers
    (problems included), streaming both bodies."""
    settings: Settings = request.app.state.settings
    upstream_path = UPSTREAM_PREFIX + _raw_tail(request)
    actor, ip = await admit_caller(request)
    headers = {k: v for k, v in request.headers.items() if k in REQUEST_HEADERS}
    headers["x-forwarded-for"] = ip
    headers["x-forwarded-prefix"] = "/mobile/v1"
    headers["x-request-id"] = request_id_var.get() or ""
    if actor is not None:
        headers[internal.HEADER] = internal.sign_identity(settings, actor.user_id, actor.session_id)
    client, own = _client(request)
    outgoing = client.build_request(
        request.method,
        httpx.URL(upstream_path, query=request.url.query.encode()),
        content=request.stream() if _has_body(request) else None,
        headers=headers,
    )
    try:
        upstream = await client.send(outgoing, stream=True)
    except httpx.TimeoutException as exc:
        await _close(client, own)
        raise UpstreamTimeout() from exc
    except httpx.HTTPError as exc:
        await _close(client, own)
        raise UpstreamUnavailable() from exc

    async def finish() -> None:
        await upstream.aclose()
        await _close(client, own)

    return StreamingResponse(
        _relay(upstream),
        status_code=upstream.status_code,
        headers={k: v for k, v in upstream.headers.items() if k in RESPONSE_HEADERS},
        background=BackgroundTask(finish),
    )


async def _close(client: httpx.AsyncClient, own: bool) -> None:
    if own:
        await client.aclose()


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.HTTPError:
        # The upstream broke off mid-body: the status is sent already, so end the stream.
        return


def _has_body(request: Request) -> bool:
    return request.method in ("POST", "PUT", "PATCH") or "content-length" in request.headers


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
            401: {"description": "A bad access token or a revoked session."},
            429: {"description": "`rate_limited`, with `Retry-After`."},
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
