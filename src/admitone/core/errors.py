"""Domain error bases; one handler renders them as RFC 9457 problem+json with a stable code."""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    """An expected refusal: a status, a stable machine `code` and a message a person reads.

    Subclasses set `status` and `code`; instances may override the message and add
    `extra` fields that appear in the problem body (e.g. `capability`).
    """

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    message: ClassVar[str] = "The request could not be processed."

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.detail = message or self.message
        self.extra = extra
        self.headers: dict[str, str] = {}
        super().__init__(self.detail)

    def problem(self) -> dict[str, Any]:
        return {
            "type": f"https://admitone.dev/problems/{self.code}",
            "title": self.code.replace("_", " ").capitalize(),
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
            **self.extra,
        }


class BadRequest(AppError):
    status = 400
    code = "bad_request"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    message = "Sign in to continue."

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.headers["WWW-Authenticate"] = "Bearer"


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFound(AppError):
    status = 404
    code = "not_found"
    message = "Not found."


class Conflict(AppError):
    status = 409
    code = "conflict"


class Gone(AppError):
    status = 410
    code = "gone"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    message = "The request body is too large."


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"
    message = "This kind of content is not accepted here."


class Invalid(AppError):
    status = 422
    code = "invalid"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    message = "Too many requests; try again later."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.headers["Retry-After"] = str(retry_after)


class Unavailable(AppError):
    status = 503
    code = "unavailable"


class ProviderError(AppError):
    """An outside provider failed or answered something we cannot use."""

    status = 502
    code = "provider_error"
