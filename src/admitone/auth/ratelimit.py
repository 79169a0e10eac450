"""Rate limits on sending and verifying sign-in codes, per e-mail and per client IP.

`limits` with the moving-window strategy: memory storage in the embedded single process,
Redis (`ADMITONE_AUTH__RATE_LIMIT_STORAGE=redis://...`) when several processes serve.
The limiter is a shield, not the invariant: the per-code attempt counter is in the code's
row. One limiter per app, created on first use.
"""

from __future__ import annotations

import math
import threading
import time

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from admitone.core.errors import RateLimited
from admitone.settings import AuthSettings

_lock = threading.Lock()


class SignInLimiter:
    def __init__(self, settings: AuthSettings) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage))
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
        waits = []
        for scope, key in (("email", email), ("ip", ip)):
            if key is None:
                continue
            for item in self.rules[f"{action}:{scope}"]:
                ids = (self._namespace, action, scope, key)
                if not self._limiter.hit(item, *ids):
                    reset = self._limiter.get_window_stats(item, *ids).reset_time
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
