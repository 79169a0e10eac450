"""Moving-window rate limits (`limits`) on memory or a shared Redis, that never take the
platform down with them: when the shared storage does not answer, counting goes on in the
process's memory (logged) and the shared storage is tried again after a while."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from limits import RateLimitItem
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

RETRY_SHARED_SECONDS = 30.0
# A shared store that does not answer within this long counts as down (never hang a request).
STORAGE_TIMEOUT_SECONDS = 0.5


def _storage(url: str) -> Any:
    if url.startswith(("redis://", "rediss://")):
        return storage_from_string(
            url,
            socket_connect_timeout=STORAGE_TIMEOUT_SECONDS,
            socket_timeout=STORAGE_TIMEOUT_SECONDS,
        )
    return storage_from_string(url)


class Limiter:
    def __init__(self, storage_url: str, namespace: str) -> None:
        self._shared = MovingWindowRateLimiter(_storage(storage_url))
        self._local = MovingWindowRateLimiter(storage_from_string("memory://"))
        self._shared_down_until = 0.0
        self.namespace = namespace

    def hit(self, rules: list[RateLimitItem], *identifiers: str) -> int | None:
        """Counts one hit under every rule; the seconds until the tightest exceeded window
        frees a slot, or None when the hit is allowed."""
        if time.monotonic() >= self._shared_down_until:
            try:
                return self._hit(self._shared, rules, identifiers)
            except Exception as exc:  # the shared store is down: count locally for a while
                log.warning("rate-limit storage unreachable (%s); counting per process", exc)
                self._shared_down_until = time.monotonic() + RETRY_SHARED_SECONDS
        return self._hit(self._local, rules, identifiers)

    def _hit(
        self, limiter: MovingWindowRateLimiter, rules: list[RateLimitItem], ids: tuple[str, ...]
    ) -> int | None:
        waits = []
        for item in rules:
            keys = (self.namespace, *ids)
            if not limiter.hit(item, *keys):
                reset = limiter.get_window_stats(item, *keys).reset_time
                waits.append(max(1, math.ceil(reset - time.time())))
        return max(waits) if waits else None
