"""Ways the mobile gateway refuses or fails a request."""

from __future__ import annotations

from admitone.core.errors import AppError, NotFound


class UpstreamUnavailable(AppError):
    status = 502
    code = "upstream_unavailable"
    message = "The service behind the mobile gateway could not be reached; try again."


class UpstreamTimeout(AppError):
    status = 504
    code = "upstream_timeout"
    message = "The service behind the mobile gateway did not answer in time; try again."


class UpstreamPathRefused(NotFound):
    code = "not_found"
    message = "No such resource or route."
