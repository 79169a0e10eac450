"""The domains in dependency order, and discovery of their models, jobs and routers.

A domain contributes by convention: `models.py` (tables), `jobs.py` (job handlers and
crons), `routes.py` with any of `api_router` (/api/v1), `support_router` (/support/v1),
`ops_router` (root), `web_router` (root: pages) and `dev_router` (mounted only when
ADMITONE_ENV=dev).
"""

from __future__ import annotations

import importlib
from types import ModuleType

DOMAINS = (
    "emails",
    "auth",
    "users",
    "access",
    "orgs",
    "events",
    "passes",
    "orders",
    "payments",
    "checkins",
    "checkout",
    "moderation",
    "dp",
    "releases",
    "notifications",
    "webhooks",
    "gateway",
    "web",
)


def _import_each(module: str) -> list[ModuleType]:
    found = []
    for domain in DOMAINS:
        name = f"admitone.{domain}.{module}"
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found


def load_models() -> None:
    importlib.import_module("admitone.core.jobs")
    importlib.import_module("admitone.core.files")
    importlib.import_module("admitone.core.idempotency")
    _import_each("models")


def load_jobs() -> None:
    _import_each("jobs")


def load_routes() -> list[ModuleType]:
    return _import_each("routes")
