"""Rate limits on sending and verifying sign-in codes, per e-mail and per client IP.

`core.ratelimit.Limiter` (moving window): memory storage in the embedded single process,
Redis (`ADMITONE_AUTH__RATE_LIMIT_STORAGE=redis://...`) when several processes serve; when
Redis cannot be reached sign-in keeps working with per-process counts, which the attempt
counter in each code's row makes safe (a code still dies after its 5 wrong guesses). The
limiter is a shield, not the invariant. One limiter per app, created on first use.
"""

from __future__ import annotations

import threading

from fastapi import Request
from limits import RateLimitItem, parse_many

from admitone.core.errors import RateLimited
from admitone.core.ratelimit import Limiter
from admitone.settings import AuthSettings

_lock = threading.Lock()


class SignInLimiter:
    def __init__(self, settings: AuthSettings) -> None:
        # Deployments (and test runs) sharing one Redis keep their counters apart.
        self._limiter = Limiter(settings.rate_limit_storage, settings.rate_limit_namespace)
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
            wait = self._limiter.hit(self.rules[f"{action}:{scope}"], action, scope, key)
            if wait is not None:
                waits.append(wait)
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
