"""ASGI factory: builds the app from its surfaces; imported by nothing."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI, params
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware
from starlette.staticfiles import StaticFiles

from admitone import domains, ops
from admitone.core import jobs
from admitone.core.db import Database, make_engine
from admitone.core.http import RequestContextMiddleware, Upload, install_error_handlers
from admitone.core.openapi import install_openapi
from admitone.core.realtime import MemoryBroker, PostgresBroker
from admitone.core.security import SecurityHeadersMiddleware
from admitone.gateway import routes as gateway_routes
from admitone.gateway.middleware import GatewayMiddleware
from admitone.integrations import moderation
from admitone.settings import Settings, load_settings

STATIC = Path(__file__).resolve().parent / "web" / "static"

log = logging.getLogger(__name__)

SURFACES = ("api", "ops", "support", "gateway", "web")


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    surfaces: Iterable[str] = SURFACES,
    run_worker: bool | None = None,
) -> FastAPI:
    settings = settings or load_settings()
    owns_db = db is None
    database = db or Database(
        make_engine(settings.resolved_database_url), threads=settings.db_threads
    )
    broker = (
        PostgresBroker(settings.resolved_database_url.replace("+psycopg", ""))
        if settings.realtime_backend == "postgres"
        else MemoryBroker()
    )
    database.publisher = broker.publish
    domains.load_models()
    domains.load_jobs()
    moderation.log_startup_status(settings.moderation)
    worker = None
    if run_worker if run_worker is not None else settings.run_worker_in_process:
        worker = jobs.Worker(database, settings)
        database.on_jobs_scheduled = worker.wake

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _report_running_release(database)
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            broker.close()
            await gateway_routes.close_clients(app)
            if owns_db:
                database.dispose()

    app = FastAPI(
        title="Admit One",
        version="0.1.0",
        summary="Event platform: accounts, teams, events, orders, passes, check-in.",
        lifespan=lifespan,
        # /docs and /redoc are pages of the web surface (web/pages/docs.py), with their
        # assets served from the package instead of FastAPI's CDN defaults.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.broker = broker
    app.state.worker = worker
    install_error_handlers(app)

    wanted = set(surfaces)
    if "ops" in wanted:
        _add_routes(app, ops.router)
    api: list[APIRouter] = []
    support: list[APIRouter] = []
    for module in domains.load_routes():
        if "api" in wanted and hasattr(module, "api_router"):
            api.append(module.api_router)
        if "support" in wanted and hasattr(module, "support_router"):
            support.append(module.support_router)
        if "ops" in wanted and hasattr(module, "ops_router"):
            _add_routes(app, module.ops_router)
        if "gateway" in wanted and hasattr(module, "gateway_router"):
            _add_routes(app, module.gateway_router)
        if "web" in wanted and hasattr(module, "web_router"):
            _add_routes(app, module.web_router)
        if settings.is_dev and hasattr(module, "dev_router"):
            _add_routes(app, module.dev_router)
    for router in api:
        _add_routes(app, router, prefix="/api/v1")
    for router in support:
        _add_routes(app, router, prefix="/support/v1")
    if "web" in wanted:
        app.mount("/static", StaticFiles(directory=STATIC, follow_symlink=False), name="static")
    _match_first(app, HOT_ROUTES)
    install_openapi(app, description=MAIN_FLOW)
    if "gateway" in wanted:
        # Innermost: inside the request id, body limits and security headers, before the
        # router (the gateway's lean path over HTTP, docs/gateway.md).
        app.add_middleware(GatewayMiddleware)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        uploads=_upload_routes(app, settings),
    )
    app.add_middleware(
        SecurityHeadersMiddleware, hsts_seconds=0 if settings.is_dev else settings.hsts_seconds
    )
    if settings.cors_origins:
        # Exact origins only (never '*' with credentials: check-config flags it).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[o for o in settings.cors_origins if o != "*"],
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "Location"],
            max_age=600,
        )
    return app


def _report_running_release(database: Database) -> None:
    """On Railway, the process records the release it runs (RAILWAY_GIT_* variables), so
    `releases/at` knows it even if the deployment webhook never arrives."""
    from admitone.releases import service as releases

    notice = releases.notice_from_environment(os.environ)
    if notice is None:
        return
    try:
        database.mutation(releases.report_running, notice)
    except Exception:  # reporting must never keep the platform from starting
        log.warning("could not record the running release", exc_info=True)


def _upload_routes(app: FastAPI, settings: Settings) -> list[Upload]:
    """The routes that take a file (a `File()` body field), and the mobile gateway (which
    streams files on to them): they may receive `max_upload_bytes` (or the limit their
    `core.http.upload_limit` names) instead of `max_body_bytes`."""
    found: list[Upload] = []
    for route in app.router.routes:
        if not isinstance(route, APIRoute):
            continue
        takes_file = any(isinstance(p.field_info, params.File) for p in route.dependant.body_params)
        if not (takes_file or route.path.startswith("/mobile/v1/")):
            continue
        own = getattr(route.endpoint, "upload_limit", None)
        methods = route.methods or set()
        if own is None:
            found.append((methods, route.path_regex))
        else:
            found.append((methods, route.path_regex, own(settings)))
    return found


MAIN_FLOW = """\
Admit One sells passes to events and checks them in at the door. The main flow:

1. **Sign in**: `POST /api/v1/auth/otp/start` e-mails a code, `POST /api/v1/auth/otp/verify`
   exchanges it for an access token (send it as `Authorization: Bearer ...`) and a refresh
   token (`POST /api/v1/auth/refresh`). Google and Apple sign-in and magic links also exist.
2. **Organize**: `POST /api/v1/workspaces`, then `POST /api/v1/organizations`; invite the
   team with `POST /api/v1/organizations/{organization_id}/team`.
3. **Publish**: `POST /api/v1/organizations/{organization_id}/events` (a draft), add tiers
   with `POST /api/v1/events/{event_id}/tiers`, then `POST /api/v1/events/{event_id}/publish`.
   Published events are listed at `GET /api/v1/public/events`.
4. **Buy**: `POST /api/v1/orders` (signed in or not; send an `Idempotency-Key`) holds the
   seats and answers with the order and, for a paid order, a checkout URL.
5. **Pay**: the buyer pays at the provider; its webhook
   (`POST /support/v1/payments/webhooks/{provider}`) settles the order, which issues one
   pass per seat (`GET /api/v1/orders/{order_id}`, `GET /api/v1/me/passes`).
6. **Scan**: door staff scan each pass's QR code with
   `POST /api/v1/events/{event_id}/checkins`; a repeat scan is a normal result, not an
   error. The door works offline too (`/checkins/offline-bundle`, `/checkins/sync`).

Errors are `application/problem+json` with a stable `code`; every response carries an
`X-Request-ID`. Lists are cursor-paginated (`limit`, `cursor`, `next_cursor`); a cursor the
API did not return is a 422 `invalid_cursor`.
"""

# The routes of an on-sale and a door, matched before the ~100 others: the app router tries
# routes in order, ~1 µs each. Moving them changes no dispatch (tests/test_app.py checks
# that no other route matches their paths).
HOT_ROUTES = (
    ("POST", "/api/v1/events/{event_id}/checkins"),
    ("POST", "/api/v1/orders"),
)


def _match_first(app: FastAPI, hot: Iterable[tuple[str, str]]) -> None:
    wanted = {(method, path): rank for rank, (method, path) in enumerate(hot)}

    def rank(route: object) -> int:
        if isinstance(route, APIRoute):
            for method in route.methods or ():
                if (method, route.path) in wanted:
                    return wanted[(method, route.path)]
        return len(wanted)

    app.router.routes.sort(key=rank)  # stable: the others keep their order


# Every APIRoute option that a route carries; `_add_routes` copies them all.
_ROUTE_OPTIONS = [
    name
    for name in inspect.signature(APIRouter.add_api_route).parameters
    if name not in ("self", "path", "endpoint", "route_class_override")
]


def _add_routes(app: FastAPI, router: APIRouter, prefix: str = "") -> None:
    """Adds the router's routes to the app's own route table, as `include_router` did before
    FastAPI 0.16x. `include_router` now keeps each router nested and re-matches the path at
    every level on every request: ~0.3 ms of CPU per request with our ~100 routes, a sixth
    of a check-in scan (bench/checkin.py). A flat table is one regex per route."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r}: only API routes are expected in a domain router")
        options = {name: getattr(route, name) for name in _ROUTE_OPTIONS}
        app.router.add_api_route(prefix + route.path, route.endpoint, **options)


def factory() -> FastAPI:
    """`uvicorn --factory admitone.app:factory`: settings from the environment."""
    surfaces = os.environ.get("ADMITONE_SURFACES")
    return create_app(surfaces=surfaces.split(",") if surfaces else SURFACES)
