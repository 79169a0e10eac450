"""Rate limits on sending and verifying sign-in codes, per e-mail and per client IP.

`limits` with the moving-window strategy: memory storage in the embedded single process,
Redis (`ADMITONE_AUTH__RATE_LIMIT_STORAGE=redis://...`) when several processes serve.
The limiter is a shield, not the invariant: the per-code attempt counter is in the code's
row. One limiter per app, created on first use.

When the shared storage (Redis) cannot be reached, sign-in keeps working: the limiter
counts in this process's memory instead (logged), and tries the shared storage again
after `RETRY_SHARED_SECONDS`. Limits are then per process, which the attempt counter in
each code's row makes safe (a code still dies after its 5 wrong guesses).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from admitone.core.errors import RateLimited
from admitone.settings import AuthSettings

log = logging.getLogger(__name__)
_lock = threading.Lock()
RETRY_SHARED_SECONDS = 30.0
# A shared store that does not answer within this long counts as down (never hang sign-in).
STORAGE_TIMEOUT_SECONDS = 0.5


def _storage(url: str) -> Any:
    if url.startswith(("redis://", "rediss://")):
        return storage_from_string(
            url,
            socket_connect_timeout=STORAGE_TIMEOUT_SECONDS,
            socket_timeout=STORAGE_TIMEOUT_SECONDS,
        )
    return storage_from_string(url)


class SignInLimiter:
    def __init__(self, settings: AuthSettings) -> None:
        self._limiter = MovingWindowRateLimiter(_storage(settings.rate_limit_storage))
        self._local = MovingWindowRateLimiter(storage_from_string("memory://"))
        self._shared_down_until = 0.0
        # Deployments (and test runs) sharing one Redis keep their counters apart.
        self._namespace = settings.rate_limit_namespace
        self.rules: dict[str, list[RateLimitItem]] = {
            "send:email": parse_many(settings.send_limits_per_email),
            "send:ip": parse_many(settings.send_limits_per_ip),
            "verify:email": parse_many(settings.verify_limits_per_email),
            "verify:ip": parse_many(settings.verify_limits_per_ip),
        }

    def hit(self, action: str, *, email: str | None, ip: str) -> None:
        """Counts one `action` ("send" or "verify"); raises RateLimited with the seconds
        until the tightest exceeded window frees a slot."""
        if time.monotonic() >= self._shared_down_until:
            try:
                self._hit(self._limiter, action, email=email, ip=ip)
                return
            except RateLimited:
                raise
            except Exception as exc:  # the shared store is down: count locally for a while
                log.warning("rate-limit storage unreachable (%s); counting per process", exc)
                self._shared_down_until = time.monotonic() + RETRY_SHARED_SECONDS
        self._hit(self._local, action, email=email, ip=ip)

    def _hit(
        self, limiter: MovingWindowRateLimiter, action: str, *, email: str | None, ip: str
    ) -> None:
        waits = []
        for scope, key in (("email", email), ("ip", ip)):
            if key is None:
                continue
            for item in self.rules[f"{action}:{scope}"]:
                ids = (self._namespace, action, scope, key)
                if not limiter.hit(item, *ids):
                    reset = limiter.get_window_stats(item, *ids).reset_time
                    waits.append(max(1, math.ceil(reset - time.time())))
        if waits:
            raise RateLimited(
                max(waits), "Too many sign-in attempts; wait a little before trying again."
            )


def limiter(request: Request) -> SignInLimiter:
    state = request.app.state
    found: SignInLimiter | None = getattr(state, "sign_in_limiter", None)
    if found is None:
        with _lock:
            found = getattr(state, "sign_in_limiter", None)
            if found is None:
                found = SignInLimiter(request.app.state.settings.auth)
                state.sign_in_limiter = found
    return found
