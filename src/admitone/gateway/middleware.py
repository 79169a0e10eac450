"""The gateway's path over HTTP as a lean ASGI layer: with an upstream URL set,
`/mobile/v1/...` is verified, limited and proxied here, inside the request-id, body-limit
and security-header middlewares but before FastAPI's exception layer, router and
dependency machinery, through `gateway.upstream`'s pooled client.

The guarantees are the route's (`routes.proxy`, still the in-process path and the OpenAPI
operations): the same checks in the same order, the same allow-listed headers both ways,
the same problems (refusals go through the app's own exception handlers), bodies streamed
both ways. This layer exists for CPU: about a millisecond per request less than the route
with httpx (docs/performance.md, "Issue 16 targets, after (perf-emit)").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import ClientDisconnect, Request

from admitone.auth import internal
from admitone.core.http import ASGIApp, Receive, Scope, Send, request_id_var
from admitone.gateway import routes
from admitone.gateway.errors import UpstreamTimeout, UpstreamUnavailable
from admitone.gateway.upstream import Answer, Pool, UpstreamFailed, UpstreamSlow
from admitone.settings import Settings

PREFIX = "/mobile/v1/"
_METHODS = frozenset(routes.METHODS)
_REQUEST_HEADERS = frozenset(h.encode() for h in routes.REQUEST_HEADERS)
_RESPONSE_HEADERS = frozenset(h.encode() for h in routes.RESPONSE_HEADERS)
_FORWARDED_PREFIX = (b"x-forwarded-prefix", b"/mobile/v1")
CONNECT_SECONDS = 5.0


class GatewayMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _METHODS
            or not scope["path"].startswith(PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        settings: Settings = scope["app"].state.settings
        upstream = settings.gateway_upstream
        if not upstream:  # in-process: the route, through ASGITransport
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            answer = await _ask(request, settings, upstream, receive)
        except ClientDisconnect:
            return  # the caller went away while sending: nobody to answer
        except Exception as exc:
            # Refusals and failures answer as the app answers them anywhere else.
            handler = _handler(scope["app"], exc)
            if handler is None:
                raise
            response = await handler(request, exc)
            await response(scope, receive, send)
            return
        try:
            await _relay(answer.status, answer.headers, answer.body(), send)
        finally:
            answer.close()


def _handler(app: Any, exc: Exception) -> Any:
    handlers = app.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers and cls is not Exception:
            return handlers[cls]
    return None


def _pool(request: Request, upstream: str) -> Pool:
    guard = routes._guard(request.app)
    key = (asyncio.get_running_loop(), upstream)
    pool = guard.pools.get(key)
    if pool is None:
        pool = guard.pools[key] = Pool(upstream.rstrip("/"), routes._tls)
    return pool


async def _ask(request: Request, settings: Settings, upstream: str, receive: Receive) -> Answer:
    """Checks the caller, sends the request upstream and returns its answer's head."""
    scope = request.scope
    target = (routes.UPSTREAM_PREFIX + routes._raw_tail(request)).encode("latin-1")
    actor, ip = await routes.admit_caller(request)
    query = scope.get("query_string") or b""
    if query:
        target += b"?" + query
    kept = {k: v for k, v in scope["headers"] if k in _REQUEST_HEADERS}
    kept[b"x-forwarded-for"] = ip.encode("latin-1")
    headers = [*kept.items(), _FORWARDED_PREFIX]
    headers.append((b"x-request-id", (request_id_var.get() or "").encode("latin-1")))
    if actor is not None:
        identity = internal.sign_identity(settings, actor.user_id, actor.session_id)
        headers.append((internal.HEADER.lower().encode(), identity.encode("latin-1")))
    body = None
    if scope["method"] in ("POST", "PUT", "PATCH") or b"content-length" in kept:
        body = _body(receive)
    try:
        return await _pool(request, upstream).request(
            scope["method"],
            target,
            headers,
            body,
            timeout=settings.gateway_timeout_seconds,
            connect_timeout=CONNECT_SECONDS,
        )
    except UpstreamSlow as exc:
        raise UpstreamTimeout() from exc
    except UpstreamFailed as exc:
        raise UpstreamUnavailable() from exc


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        piece = message.get("body", b"")
        if piece:
            yield piece
        if not message.get("more_body", False):
            return


async def _relay(
    status: int, headers: list[tuple[bytes, bytes]], body: AsyncIterator[bytes], send: Send
) -> None:
    """The answer's status, allow-listed headers and body, each piece sent as it comes (the
    last one held back to go with the end of the body: one write for a small answer)."""
    kept = [(k, v) for k, v in headers if k in _RESPONSE_HEADERS]
    held = b""
    try:
        await send({"type": "http.response.start", "status": status, "headers": kept})
        try:
            async for piece in body:
                if held:
                    await send({"type": "http.response.body", "body": held, "more_body": True})
                held = piece
        except UpstreamFailed:
            pass  # the upstream broke off mid-body: the status is sent already, end the stream
        await send({"type": "http.response.body", "body": held, "more_body": False})
    except OSError:
        return  # the caller went away (the upstream connection is closed, not reused)
