"""Releases: ingest deployment events, keep one release per deployment, notes and the
public "what's new" feed, and which release was live at a given time."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, record_audit, require_capability
from admitone.core import jobs, outbox
from admitone.core.clock import utcnow
from admitone.core.db import insert_for
from admitone.core.ids import DeploymentEventId, ReleaseId, UserId
from admitone.core.pagination import Keyset, SortKey
from admitone.releases import errors
from admitone.releases.models import (
    FAILED_STATUSES,
    DeploymentEvent,
    DeploymentStatus,
    PayloadFormat,
    Release,
    ReleaseSource,
)
from admitone.releases.railway import DeploymentNotice, read_notice

RECHECK_JOB = "releases.recheck"
MAX_RAW_BODY = 256 * 1024

NEWEST = Keyset(
    SortKey(Release.first_seen_at, datetime, descending=True),
    SortKey(Release.id, str, descending=True),
)
NEWEST_PUBLISHED = Keyset(
    SortKey(Release.published_at, datetime, descending=True),
    SortKey(Release.id, str, descending=True),
)


@dataclass(frozen=True)
class Ingested:
    event_id: DeploymentEventId | None  # None: a replay we already had
    release_id: ReleaseId | None
    applied: bool


def ingest_deployment_event(session: Session, raw: bytes, *, recheck: bool) -> Ingested:
    """Records a webhook body as received (append-only, deduped by deployment and status)
    and applies it to the deployment's release. Never raises for a body it cannot read:
    that is kept, unapplied, for an operator to look at."""
    text = raw[:MAX_RAW_BODY].decode("utf-8", errors="replace")
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = None
    notice = read_notice(body)
    if notice is None:
        digest = hashlib.sha256(raw).hexdigest()[:32]
        event_id = _record_event(
            session,
            deployment_id=f"unparsed:{digest}",
            status=DeploymentStatus.UNKNOWN,
            event_type=body.get("type") if isinstance(body, dict) else None,
            fmt=PayloadFormat.UNKNOWN,
            occurred_at=utcnow(),
            raw=text,
            payload=body if isinstance(body, dict) else None,
        )
        return Ingested(event_id, None, applied=False)
    event_id = _record_event(
        session,
        deployment_id=notice.deployment_id,
        status=notice.status,
        event_type=notice.event_type,
        fmt=notice.format,
        occurred_at=notice.occurred_at,
        raw=text,
        payload=body,
    )
    if event_id is None:
        return Ingested(None, None, applied=False)
    release = _apply(session, notice, ReleaseSource.RAILWAY)
    session.execute(
        update(DeploymentEvent)
        .where(DeploymentEvent.id == event_id)
        .values(release_id=release.id)
        .execution_options(synchronize_session=False)
    )
    if notice.status in FAILED_STATUSES:
        outbox.notify(
            session,
            "deployment_failed",
            platform_role="release_manager",
            data={
                "release_id": release.id,
                "status": notice.status.value,
                "service": release.service_name or "",
                "environment": release.environment_name or "",
                "commit": (release.commit_sha or "")[:12],
                "message": (release.message or "")[:200],
            },
        )
    if recheck:
        jobs.schedule(session, RECHECK_JOB, {"event_id": event_id})
    return Ingested(event_id, release.id, applied=True)


def _record_event(
    session: Session,
    *,
    deployment_id: str,
    status: DeploymentStatus,
    event_type: str | None,
    fmt: PayloadFormat,
    occurred_at: datetime,
    raw: str,
    payload: Any,
) -> DeploymentEventId | None:
    """The new event's id, or None when this (deployment, status) was already received."""
    event_id = DeploymentEventId.new()
    inserted = session.execute(
        insert_for(session, DeploymentEvent)
        .values(
            id=event_id,
            deployment_id=deployment_id,
            status=status.value,
            event_type=event_type,
            format=fmt.value,
            occurred_at=occurred_at,
            raw_body=raw,
            payload=payload,
            secret_ok=True,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["deployment_id", "status"])
        .returning(DeploymentEvent.id)
    ).scalar_one_or_none()
    return None if inserted is None else event_id


def _apply(session: Session, notice: DeploymentNotice, source: ReleaseSource) -> Release:
    """Upserts the deployment's release under a row lock; a status applies only if its
    event is not older than the one that set the current status (out-of-order delivery)."""
    now = utcnow()
    session.execute(
        insert_for(session, Release)
        .values(
            id=ReleaseId.new(),
            deployment_id=notice.deployment_id,
            source=source.value,
            status=notice.status.value,
            status_at=notice.occurred_at,
            first_seen_at=now,
            is_published=False,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["deployment_id"])
    )
    release = session.scalars(
        select(Release)
        .where(Release.deployment_id == notice.deployment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    for field in (
        "service_id",
        "service_name",
        "environment_id",
        "environment_name",
        "project_id",
        "commit_sha",
        "branch",
        "author",
        "message",
    ):
        value = getattr(notice, field)
        if value is not None:
            setattr(release, field, value)
    if notice.occurred_at >= release.status_at:
        release.status = notice.status
        release.status_at = notice.occurred_at
    _stamp(release, notice.status, notice.occurred_at)
    session.flush()
    return release


def _stamp(release: Release, status: DeploymentStatus, at: datetime) -> None:
    if status == DeploymentStatus.SUCCESS and release.live_at is None:
        release.live_at = at
    elif status in FAILED_STATUSES and release.failed_at is None:
        release.failed_at = at
    elif status == DeploymentStatus.REMOVED and release.removed_at is None:
        release.removed_at = at


# --- the GraphQL re-check ------------------------------------------------------------------


@dataclass(frozen=True)
class RecheckTarget:
    event_id: DeploymentEventId
    deployment_id: str
    status: str


def recheck_target(session: Session, event_id: DeploymentEventId) -> RecheckTarget | None:
    event = session.get(DeploymentEvent, event_id)
    if event is None or event.release_id is None:
        return None
    return RecheckTarget(event.id, event.deployment_id, event.status)


def record_recheck(
    session: Session, target: RecheckTarget, api_status: DeploymentStatus | None
) -> None:
    """What Railway's API said of the deployment: the event is confirmed when the API knows
    the deployment; the release takes the API's status (the body was only a hint)."""
    confirmed = api_status is not None
    session.execute(
        update(DeploymentEvent)
        .where(DeploymentEvent.id == target.event_id)
        .values(api_confirmed=confirmed)
        .execution_options(synchronize_session=False)
    )
    release = session.scalars(
        select(Release).where(Release.deployment_id == target.deployment_id).with_for_update()
    ).one_or_none()
    if release is None:
        return
    release.api_confirmed = confirmed
    if api_status is not None and api_status != DeploymentStatus.UNKNOWN:
        release.status = api_status
        _stamp(release, api_status, utcnow())


# --- the running process reports itself -----------------------------------------------------


def notice_from_environment(env: Mapping[str, str]) -> DeploymentNotice | None:
    """The release this process runs, from the variables Railway injects, if any."""
    deployment_id = env.get("RAILWAY_DEPLOYMENT_ID")
    commit = env.get("RAILWAY_GIT_COMMIT_SHA")
    if not deployment_id and not commit:
        return None
    return DeploymentNotice(
        deployment_id=deployment_id or f"commit:{commit}",
        status=DeploymentStatus.SUCCESS,
        event_type=None,
        format=PayloadFormat.CURRENT,
        occurred_at=utcnow(),
        service_id=env.get("RAILWAY_SERVICE_ID"),
        service_name=env.get("RAILWAY_SERVICE_NAME"),
        environment_id=env.get("RAILWAY_ENVIRONMENT_ID"),
        environment_name=env.get("RAILWAY_ENVIRONMENT_NAME"),
        project_id=env.get("RAILWAY_PROJECT_ID"),
        commit_sha=commit,
        branch=env.get("RAILWAY_GIT_BRANCH"),
        author=env.get("RAILWAY_GIT_AUTHOR"),
        message=(env.get("RAILWAY_GIT_COMMIT_MESSAGE") or "")[:2000] or None,
    )


def report_running(session: Session, notice: DeploymentNotice) -> ReleaseId:
    return _apply(session, notice, ReleaseSource.SELF).id


# --- reading and editing -----------------------------------------------------------------


def _guard(session: Session, user_id: UserId) -> None:
    require_capability(session, user_id, Capability.RELEASE_MANAGE, Scope.platform())


def list_releases(
    session: Session, user_id: UserId, *, limit: int, cursor: str | None
) -> tuple[list[Release], str | None]:
    _guard(session, user_id)
    return NEWEST.page(session, select(Release), limit=limit, cursor=cursor)


def get_release(session: Session, user_id: UserId, release_id: ReleaseId) -> Release:
    _guard(session, user_id)
    release = session.get(Release, release_id)
    if release is None:
        raise errors.ReleaseNotFound()
    return release


def edit_release(
    session: Session,
    user_id: UserId,
    release_id: ReleaseId,
    *,
    notes: str | None,
    published: bool | None,
) -> Release:
    """Sets the release notes and whether they appear in the public feed (audited)."""
    release = get_release(session, user_id, release_id)
    before = {"notes": release.notes, "published": release.is_published}
    if notes is not None:
        release.notes = notes
    if published is not None and published != release.is_published:
        release.is_published = published
        release.published_at = utcnow() if published else None
    session.flush()
    action = "release.published" if published and not before["published"] else "release.updated"
    record_audit(
        session,
        actor_user_id=user_id,
        action=action,
        target_type="release",
        target_id=release.id,
        before=before,
        after={"notes": release.notes, "published": release.is_published},
    )
    return release


def public_releases(
    session: Session, *, limit: int, cursor: str | None
) -> tuple[list[Release], str | None]:
    query = select(Release).where(Release.is_published.is_(True))
    return NEWEST_PUBLISHED.page(session, query, limit=limit, cursor=cursor)


def release_live_at(
    session: Session, user_id: UserId, moment: datetime, environment: str | None
) -> Release:
    """The last release to go live at or before `moment` (in `environment` if given): the
    one an incident, an order, a payment or a scan at that time ran on."""
    _guard(session, user_id)
    query = select(Release).where(Release.live_at.is_not(None), Release.live_at <= moment)
    if environment is not None:
        query = query.where(Release.environment_name == environment)
    release = session.scalars(query.order_by(Release.live_at.desc(), Release.id.desc()).limit(1))
    found = release.first()
    if found is None:
        raise errors.NoLiveRelease()
    return found
