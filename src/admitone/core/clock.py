"""The one clock: timezone-aware UTC. Tests move it with time-machine."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
