"""Operational routes: liveness, readiness and externally triggered cron runs."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.orm import Session

from admitone.core import jobs
from admitone.core.errors import NotFound, Unauthorized
from admitone.core.http import Db
from admitone.migrate import current_revision, head_revision

router = APIRouter(tags=["operations"])


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


class Readiness(BaseModel):
    status: str
    checks: dict[str, Any]


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={503: {"description": "Not ready (same body)", "model": Readiness}},
)
def ready(db: Db) -> JSONResponse:
    checks: dict[str, Any] = {}
    ok = True
    try:

        def _probe(session: Session) -> tuple[str | None, float | None]:
            session.execute(text("SELECT 1"))
            return current_revision(session.connection()), jobs.oldest_due_age(session)

        revision, lag = db.query(_probe)
        checks["database"] = "ok"
        head = head_revision()
        checks["migrations"] = {"current": revision, "head": head, "ok": revision == head}
        ok = revision == head
        checks["oldest_due_job_seconds"] = lag
    except Exception as exc:  # readiness reports, it does not raise
        checks["database"] = f"unreachable: {type(exc).__name__}"
        ok = False
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503
    )


class CronNotFound(NotFound):
    code = "cron_not_found"
    message = "No cron has that name."


@router.post(
    "/cron/{name}",
    status_code=202,
    responses={401: {"description": "`unauthorized`: not the cron bearer secret."}},
)
def trigger_cron(
    name: str, request: Request, db: Db, authorization: Annotated[str | None, Header()] = None
) -> dict[str, str]:
    settings = request.app.state.settings
    expected = f"Bearer {settings.cron_secret.get_secret_value()}"
    if authorization is None or not hmac.compare_digest(authorization.encode(), expected.encode()):
        raise Unauthorized(
            "A valid cron bearer secret is required.",
        )
    spec = jobs.registered_crons().get(name)
    if spec is None:
        raise CronNotFound()

    def _enqueue(session: Session) -> None:
        jobs.schedule(session, spec.job, {"trigger": "http"})

    db.mutation(_enqueue)
    return {"status": "enqueued", "cron": name}
