"""FastAPI glue: problem+json errors, request ids, body limits, dependencies, pagination."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
from collections.abc import Awaitable, Callable, Collection, MutableMapping, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from ulid import ULID

from admitone.core.db import Database
from admitone.core.errors import AppError
from admitone.settings import Settings

log = logging.getLogger(__name__)

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

PROBLEM = "application/problem+json"
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


# Where the middleware leaves the request id in the ASGI scope, for the 500 handler: that
# one runs in Starlette's outermost middleware, after ours has returned.
SCOPE_REQUEST_ID = "admitone.request_id"


def problem_body(
    status: int, code: str, detail: str, rid: str | None, **extra: Any
) -> dict[str, Any]:
    """Every problem's shape: a human `title`, the stable `code` apart (RFC 9457)."""
    body = {
        "type": f"https://admitone.dev/problems/{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    if rid:
        body["request_id"] = rid
    return body


def problem_response(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body = problem_body(status, code, detail, request_id_var.get(), **extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def allowed_methods(app: Any, path: str) -> list[str]:
    """Every method some route serves at `path` (the flat route table has one route per
    method set, so a 405 from the first match alone would name too few)."""
    methods: set[str] = set()
    for route in app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path) and getattr(route, "methods", None):
            methods |= set(route.methods)
    return sorted(methods)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        out.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "type": err.get("type"),
                "message": err.get("msg"),
            }
        )
    return out


def install_error_handlers(app: FastAPI) -> None:
    async def on_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        resp = problem_response(exc.status, exc.code, exc.detail, **exc.extra)
        resp.headers.update(exc.headers)
        return resp

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(400, "malformed_json", "The request body is not valid JSON.")
        return problem_response(422, "validation_error", "Some fields are invalid.", errors=errors)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such resource or route."
        resp = problem_response(exc.status_code, code, detail)
        if exc.headers:
            resp.headers.update(exc.headers)
        if exc.status_code == 405:
            resp.headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
        return resp

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        rid = request.scope.get(SCOPE_REQUEST_ID)
        body = problem_body(500, "internal_error", "Something went wrong on our side.", rid)
        headers = {"X-Request-ID": rid} if rid else None
        return JSONResponse(body, status_code=500, media_type=PROBLEM, headers=headers)

    async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
        # The database went away (restart, failover, a cut connection) or stayed locked
        # past the retries: the caller may try again shortly. SQLAlchemy has invalidated
        # the pool, so the next request opens fresh connections by itself.
        if isinstance(exc, OperationalError | InterfaceError) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
        ):
            log.warning("database unavailable: %s", type(exc.orig).__name__)
            resp = problem_response(
                503, "database_unavailable", "The database is unavailable; try again shortly."
            )
            resp.headers["Retry-After"] = "2"
            return resp
        return await on_unexpected(request, exc)

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SAFE_RID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


# Room for the multipart envelope (boundaries, part headers) around an uploaded file.
MULTIPART_SLACK_BYTES = 64 * 1024
# A refused body is read (and dropped) up to this many times its limit before the 413 is
# sent, so the client, still sending, sees the answer instead of a connection reset.
DRAIN_FACTOR = 4

# (methods, path regex) of a route that takes a file; a third item is that route's own
# file limit in bytes (else `max_upload_bytes`).
Upload = tuple[Collection[str], re.Pattern[str]] | tuple[Collection[str], re.Pattern[str], int]

EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])


def upload_limit(limit: Callable[[Settings], int]) -> Callable[[EndpointT], EndpointT]:
    """Marks a route that takes a file with its own limit, read from the settings when the
    app is built (a DP photo may be larger than a cover image)."""

    def mark(endpoint: EndpointT) -> EndpointT:
        endpoint.upload_limit = limit  # type: ignore[attr-defined]
        return endpoint

    return mark


class RequestContextMiddleware:
    """Pure ASGI: a request id per request (kept from `X-Request-ID` when sane) put on the
    response and on log records, and a cap on body size so a huge body is a 413, not a
    memory spike. Routes that take a file (`uploads`: their methods and path regex) may
    receive `max_upload_bytes` (or their own limit) and the multipart envelope, else 413
    `file_too_large`.

    The 413 is delivered: the rest of the body is read and dropped (at most `DRAIN_FACTOR`
    times the limit) before answering, because a client still sending when the server
    answers and closes gets a TCP reset and never reads the answer (a phone uploading a
    20 MB photo would show a network error). Past the bound, the answer carries
    `Connection: close`."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        max_upload_bytes: int = 0,
        uploads: Sequence[Upload] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.upload_limit = max_upload_bytes + MULTIPART_SLACK_BYTES
        self.uploads = tuple(
            (u[0], u[1], (u[2] if len(u) == 3 else max_upload_bytes) + MULTIPART_SLACK_BYTES)
            for u in uploads
        )
        self._upload_methods = frozenset(m for methods, _, _ in self.uploads for m in methods)

    def _limit(self, scope: Scope) -> tuple[int, str, str]:
        method = scope.get("method")
        if method in self._upload_methods:
            for methods, pattern, limit in self.uploads:
                if method in methods and pattern.match(scope["path"]):
                    return limit, "file_too_large", "The file is too large."
        return self.max_body_bytes, "payload_too_large", "The request body is too large."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _SAFE_RID.match(incoming) else str(ULID())
        token = request_id_var.set(rid)
        scope[SCOPE_REQUEST_ID] = rid
        limit, code, detail = self._limit(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        try:
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                # A declared length past the bound is not worth reading at all.
                worth = declared.isdigit() and int(declared) <= limit * DRAIN_FACTOR
                drained = worth and await _drain(receive, 0, limit * DRAIN_FACTOR)
                await _send_json(send, 413, code, detail, rid, close=not drained)
                return
            received = 0
            cut = started = False
            more = True

            async def limited_receive() -> MutableMapping[str, Any]:
                nonlocal received, cut, more
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    more = bool(message.get("more_body", False))
                    if received > limit:
                        cut = True
                        raise _BodyTooLarge
                elif message["type"] == "http.disconnect":
                    more = False
                return message

            async def send_with_id(message: MutableMapping[str, Any]) -> None:
                nonlocal started
                if cut and not started:
                    # The app's answer to a body we cut off (FastAPI turns the error into a
                    # 400 while parsing): the 413 below replaces it.
                    return
                if message["type"] == "http.response.start":
                    started = True
                    headers = list(message.get("headers", []))
                    headers.append((b"x-request-id", rid.encode()))
                    message["headers"] = headers
                await send(message)

            with contextlib.suppress(_BodyTooLarge):
                await self.app(scope, limited_receive, send_with_id)
            if cut and not started:
                drained = not more or await _drain(receive, received, limit * DRAIN_FACTOR)
                await _send_json(send, 413, code, detail, rid, close=not drained)
        finally:
            request_id_var.reset(token)


async def _drain(receive: Receive, received: int, bound: int) -> bool:
    """Reads and drops the rest of a request body; False when it is longer than `bound`
    (the connection is then closed after the answer)."""
    while received <= bound:
        message = await receive()
        if message["type"] != "http.request":
            return True  # the client went away
        received += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
    return False


class _BodyTooLarge(Exception):
    pass


async def _send_json(
    send: Send, status: int, code: str, detail: str, rid: str, *, close: bool = False
) -> None:
    body = json.dumps(problem_body(status, code, detail, rid)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", rid.encode()),
                *([(b"connection", b"close")] if close else []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


# --- dependencies ------------------------------------------------------------------------


# Async so that resolving them costs no thread-pool hop; they only read app state.
async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def app_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


Db = Annotated[Database, Depends(get_db)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an `If-None-Match` header names `etag` (a quoted strong tag), compared weakly
    as RFC 9110 asks for GET: `W/"x"` matches `"x"`, and `*` matches anything."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip().removeprefix("W/")
        if tag == "*" or tag == etag:
            return True
    return False


# --- pagination --------------------------------------------------------------------------

ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None,
        Query(
            max_length=200,
            description="`next_cursor` of the previous page; any other value is a 422 "
            "`invalid_cursor`.",
            # A well-formed cursor of the wrong shape (`["x","y"]`): the fuzzer sends it to
            # every list, which must refuse it with 422, never a 500 (docs/contract.md).
            examples=["WyJ4IiwgInkiXQ=="],
        ),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


Paging = Annotated[PageParams, Depends(page_params)]
