"""Railway's deployment webhook payloads, current and legacy, read into one shape.

Current (since 2025-11): `{type: "Deployment.<state>", details: {id, status, branch,
commitHash, commitAuthor, commitMessage, source}, resource: {project, environment,
service, deployment: {id}}, timestamp}`. Legacy: `{type: "DEPLOY", timestamp, project,
environment, deployment: {id, creator, meta}, status?}`. Railway documents no signature
and its example is inconsistent (`type` failed with `details.status` SUCCESS): `type`
names the event; the body is a hint until the GraphQL API confirms it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from admitone.core.clock import utcnow
from admitone.releases.models import DeploymentStatus, PayloadFormat

# `Deployment.<suffix>` names seen in Railway's docs and guides, to our status enum.
_SUFFIXES = {
    "initializing": DeploymentStatus.INITIALIZING,
    "queued": DeploymentStatus.QUEUED,
    "waiting": DeploymentStatus.WAITING,
    "building": DeploymentStatus.BUILDING,
    "deploying": DeploymentStatus.DEPLOYING,
    "deployed": DeploymentStatus.SUCCESS,
    "success": DeploymentStatus.SUCCESS,
    "succeeded": DeploymentStatus.SUCCESS,
    "active": DeploymentStatus.SUCCESS,
    "failed": DeploymentStatus.FAILED,
    "crashed": DeploymentStatus.CRASHED,
    "completed": DeploymentStatus.COMPLETED,
    "removing": DeploymentStatus.REMOVING,
    "removed": DeploymentStatus.REMOVED,
    "skipped": DeploymentStatus.SKIPPED,
    "sleeping": DeploymentStatus.SLEEPING,
}


@dataclass(frozen=True)
class DeploymentNotice:
    deployment_id: str
    status: DeploymentStatus
    event_type: str | None
    format: PayloadFormat
    occurred_at: datetime
    service_id: str | None = None
    service_name: str | None = None
    environment_id: str | None = None
    environment_name: str | None = None
    project_id: str | None = None
    commit_sha: str | None = None
    branch: str | None = None
    author: str | None = None
    message: str | None = None


def status_named(value: object) -> DeploymentStatus:
    if not isinstance(value, str):
        return DeploymentStatus.UNKNOWN
    upper = value.strip().upper()
    if upper in DeploymentStatus.__members__:
        return DeploymentStatus(upper)
    return _SUFFIXES.get(value.strip().lower(), DeploymentStatus.UNKNOWN)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int = 2000) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)[:limit] or None


def _time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return utcnow()
        if moment.tzinfo is not None:
            return moment
    return utcnow()


def read_notice(body: Any) -> DeploymentNotice | None:
    """The deployment a payload speaks of, or None when it is not a deployment event (an
    alert, a test ping, garbage): those are kept as received and not applied."""
    data = _obj(body)
    kind = _text(data.get("type"), 100)
    when = _time(data.get("timestamp"))
    if kind and kind.startswith("Deployment."):
        details, resource = _obj(data.get("details")), _obj(data.get("resource"))
        deployment_id = _text(_obj(resource.get("deployment")).get("id"), 100) or _text(
            details.get("id"), 100
        )
        if not deployment_id:
            return None
        service, env = _obj(resource.get("service")), _obj(resource.get("environment"))
        return DeploymentNotice(
            deployment_id=deployment_id,
            status=status_named(kind.removeprefix("Deployment.")),
            event_type=kind,
            format=PayloadFormat.CURRENT,
            occurred_at=when,
            service_id=_text(service.get("id"), 100),
            service_name=_text(service.get("name"), 200),
            environment_id=_text(env.get("id"), 100),
            environment_name=_text(env.get("name"), 200),
            project_id=_text(_obj(resource.get("project")).get("id"), 100),
            commit_sha=_text(details.get("commitHash"), 64),
            branch=_text(details.get("branch"), 255),
            author=_text(details.get("commitAuthor"), 255),
            message=_text(details.get("commitMessage")),
        )
    if kind == "DEPLOY":
        deployment = _obj(data.get("deployment"))
        deployment_id = _text(deployment.get("id"), 100)
        if not deployment_id:
            return None
        meta, env = _obj(deployment.get("meta")), _obj(data.get("environment"))
        return DeploymentNotice(
            deployment_id=deployment_id,
            status=status_named(data.get("status") or deployment.get("status") or "DEPLOYING"),
            event_type=kind,
            format=PayloadFormat.LEGACY,
            occurred_at=when,
            service_id=_text(_obj(data.get("service")).get("id"), 100),
            service_name=_text(_obj(data.get("service")).get("name"), 200),
            environment_id=_text(env.get("id"), 100),
            environment_name=_text(env.get("name"), 200),
            project_id=_text(_obj(data.get("project")).get("id"), 100),
            commit_sha=_text(meta.get("commitHash"), 64),
            branch=_text(meta.get("branch"), 255),
            author=_text(meta.get("commitAuthor") or _obj(deployment.get("creator")).get("name")),
            message=_text(meta.get("commitMessage")),
        )
    return None
