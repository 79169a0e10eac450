"""Release history, enriched with deployment metadata from Railway webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Mutable, id_column
from admitone.core.ids import ReleaseId


class Release(Mutable, Base):
    __tablename__ = "releases"

    id: Mapped[ReleaseId] = id_column()
    version: Mapped[str] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    deployment_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    deployment_status: Mapped[str | None] = mapped_column(String(30))
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    environment: Mapped[str | None] = mapped_column(String(60))
    deployed_at: Mapped[datetime | None]
    metadata_json: Mapped[dict[str, Any] | None]
