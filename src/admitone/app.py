"""ASGI factory: builds the app from its surfaces; imported by nothing."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from admitone import domains, ops
from admitone.core import jobs
from admitone.core.db import Database, make_engine
from admitone.core.http import RequestContextMiddleware, install_error_handlers
from admitone.core.realtime import MemoryBroker, PostgresBroker
from admitone.settings import Settings, load_settings

log = logging.getLogger(__name__)

SURFACES = ("api", "ops", "support", "gateway")


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    surfaces: Iterable[str] = SURFACES,
    run_worker: bool | None = None,
) -> FastAPI:
    settings = settings or load_settings()
    owns_db = db is None
    database = db or Database(make_engine(settings.resolved_database_url))
    broker = (
        PostgresBroker(settings.resolved_database_url.replace("+psycopg", ""))
        if settings.realtime_backend == "postgres"
        else MemoryBroker()
    )
    database.publisher = broker.publish
    domains.load_models()
    domains.load_jobs()
    worker = None
    if run_worker if run_worker is not None else settings.run_worker_in_process:
        worker = jobs.Worker(database, settings)
        database.on_jobs_scheduled = worker.wake

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            broker.close()
            if owns_db:
                database.dispose()

    app = FastAPI(
        title="Admit One",
        version="0.1.0",
        summary="Event platform: accounts, teams, events, orders, passes, check-in.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.broker = broker
    app.state.worker = worker
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)

    wanted = set(surfaces)
    if "ops" in wanted:
        app.include_router(ops.router)
    api = APIRouter(prefix="/api/v1")
    support = APIRouter(prefix="/support/v1")
    for module in domains.load_routes():
        if "api" in wanted and hasattr(module, "api_router"):
            api.include_router(module.api_router)
        if "support" in wanted and hasattr(module, "support_router"):
            support.include_router(module.support_router)
        if "ops" in wanted and hasattr(module, "ops_router"):
            app.include_router(module.ops_router)
        if "gateway" in wanted and hasattr(module, "gateway_router"):
            app.include_router(module.gateway_router)
        if settings.is_dev and hasattr(module, "dev_router"):
            app.include_router(module.dev_router)
    app.include_router(api)
    app.include_router(support)
    return app


def factory() -> FastAPI:
    """`uvicorn --factory admitone.app:factory`: settings from the environment."""
    import os

    surfaces = os.environ.get("ADMITONE_SURFACES")
    return create_app(surfaces=surfaces.split(",") if surfaces else SURFACES)
