"""Re-checking a deployment through Railway's GraphQL API before its status is trusted."""

from __future__ import annotations

from typing import Any

import httpx

from admitone.core import jobs
from admitone.core.ids import DeploymentEventId
from admitone.releases import service
from admitone.releases.models import DeploymentStatus
from admitone.releases.railway import status_named

QUERY = "query deployment($id: String!) { deployment(id: $id) { id status createdAt meta } }"


def fetch_deployment_status(settings: Any, deployment_id: str) -> DeploymentStatus | None:
    """The status Railway's API gives the deployment, None when it does not know it. Raises
    on transport errors and non-2xx answers (the job is retried with backoff)."""
    releases = settings.releases
    token = releases.railway_project_token
    assert token is not None, "scheduled only with a project token"
    response = httpx.post(
        releases.railway_api_url,
        json={"query": QUERY, "variables": {"id": deployment_id}},
        headers={"Project-Access-Token": token.get_secret_value()},
        timeout=releases.railway_api_timeout_seconds,
    )
    response.raise_for_status()
    data = response.json()
    deployment = (data.get("data") or {}).get("deployment")
    if not isinstance(deployment, dict):
        return None
    return status_named(deployment.get("status"))


@jobs.job("releases.recheck", max_attempts=8)
def recheck(ctx: jobs.JobContext, /, **args: Any) -> None:
    target = ctx.db.query(service.recheck_target, DeploymentEventId(args["event_id"]))
    if target is None:
        return
    api_status = fetch_deployment_status(ctx.settings, target.deployment_id)  # outside any tx
    ctx.db.mutation(service.record_recheck, target, api_status)
