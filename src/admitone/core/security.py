"""Headers every response carries, whatever the surface: no MIME sniffing, a referrer
policy, and HSTS outside dev. Pages set their own Content-Security-Policy (`web.render`);
this middleware never overrides a header a route set."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from admitone.core.http import ASGIApp, Receive, Scope, Send


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts_seconds: int = 0) -> None:
        self.app = app
        defaults = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
        ]
        if hsts_seconds > 0:
            value = f"max-age={hsts_seconds}; includeSubDomains".encode()
            defaults.append((b"strict-transport-security", value))
        self.defaults = tuple(defaults)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in self.defaults if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
