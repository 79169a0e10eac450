"""API shapes of releases."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from admitone.core.ids import ReleaseId
from admitone.releases.models import DeploymentStatus, ReleaseSource


class ReleaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: ReleaseId
    deployment_id: str
    source: ReleaseSource
    status: DeploymentStatus
    service_name: str | None
    environment_name: str | None
    commit_sha: str | None
    branch: str | None
    author: str | None
    message: str | None
    first_seen_at: datetime
    live_at: datetime | None
    failed_at: datetime | None
    removed_at: datetime | None
    api_confirmed: bool | None
    notes: str | None
    is_published: bool
    published_at: datetime | None


class ReleaseEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: str | None = Field(default=None, max_length=20_000)
    published: bool | None = None


class PublicReleaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: ReleaseId
    commit_sha: str | None
    environment_name: str | None
    notes: str | None
    published_at: datetime | None
    live_at: datetime | None


class DeploymentAccepted(BaseModel):
    status: str = "accepted"
    duplicate: bool
