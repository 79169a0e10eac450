"""Release history: one row per deployment, enriched from Railway's webhooks and API, with
an append-only history of the deployment events we received."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Mutable, Timestamped, enum_check, enum_column, id_column
from admitone.core.ids import DeploymentEventId, ReleaseId


class DeploymentStatus(StrEnum):
    """Railway's deployment statuses (its API enum); UNKNOWN for one we do not know yet."""

    INITIALIZING = "INITIALIZING"
    QUEUED = "QUEUED"
    WAITING = "WAITING"
    BUILDING = "BUILDING"
    DEPLOYING = "DEPLOYING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    COMPLETED = "COMPLETED"
    REMOVING = "REMOVING"
    REMOVED = "REMOVED"
    SKIPPED = "SKIPPED"
    SLEEPING = "SLEEPING"
    UNKNOWN = "UNKNOWN"


FAILED_STATUSES = frozenset({DeploymentStatus.FAILED, DeploymentStatus.CRASHED})


class ReleaseSource(StrEnum):
    RAILWAY = "railway"  # a deployment webhook
    SELF = "self"  # the running process reported itself (RAILWAY_GIT_* variables)


class Release(Mutable, Base):
    __tablename__ = "releases"
    __table_args__ = (
        enum_check("status", DeploymentStatus),
        enum_check("source", ReleaseSource),
        Index("ix_releases_live", "environment_name", "live_at"),
    )

    id: Mapped[ReleaseId] = id_column()
    deployment_id: Mapped[str] = mapped_column(String(100), unique=True)
    source: Mapped[ReleaseSource] = enum_column(ReleaseSource, default=ReleaseSource.RAILWAY)
    status: Mapped[DeploymentStatus] = enum_column(DeploymentStatus)
    # The provider's time of the event that set `status` (events may arrive out of order).
    status_at: Mapped[datetime]
    service_id: Mapped[str | None] = mapped_column(String(100))
    service_name: Mapped[str | None] = mapped_column(String(200))
    environment_id: Mapped[str | None] = mapped_column(String(100))
    environment_name: Mapped[str | None] = mapped_column(String(200))
    project_id: Mapped[str | None] = mapped_column(String(100))
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    branch: Mapped[str | None] = mapped_column(String(255))
    author: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime]
    live_at: Mapped[datetime | None]  # first SUCCESS
    failed_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    # Confirmed through Railway's GraphQL API (None: not re-checked).
    api_confirmed: Mapped[bool | None] = mapped_column(Boolean)
    notes: Mapped[str | None] = mapped_column(Text)
    is_published: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime | None]


class PayloadFormat(StrEnum):
    CURRENT = "current"  # type "Deployment.<state>" (since 2025-11)
    LEGACY = "legacy"  # type "DEPLOY"
    UNKNOWN = "unknown"  # kept as received, not applied


class DeploymentEvent(Timestamped, Base):
    """Every deployment webhook we accepted, as received (append-only). The unique
    (deployment, status) pair dedupes replays: Railway's retries are undocumented."""

    __tablename__ = "deployment_events"
    __table_args__ = (
        UniqueConstraint("deployment_id", "status"),
        enum_check("format", PayloadFormat),
    )

    id: Mapped[DeploymentEventId] = id_column()
    deployment_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str | None] = mapped_column(String(100))
    format: Mapped[PayloadFormat] = enum_column(PayloadFormat)
    occurred_at: Mapped[datetime]
    raw_body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None]
    secret_ok: Mapped[bool] = mapped_column(Boolean)
    api_confirmed: Mapped[bool | None] = mapped_column(Boolean)
    release_id: Mapped[ReleaseId | None] = mapped_column(ForeignKey("releases.id"))
