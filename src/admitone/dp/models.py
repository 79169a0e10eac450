"""DP campaigns, their templates (a frame and a layout), the pictures attendees generate from
them, and the campaigns' daily counters."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import (
    Base,
    JSONType,
    Mutable,
    Timestamped,
    enum_check,
    enum_column,
    id_column,
)
from admitone.core.ids import (
    DpBatchId,
    DpCampaignId,
    DpReportId,
    DpTemplateId,
    EventId,
    FileId,
    GeneratedDpId,
    OrganizationId,
    UserId,
)


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"


class TemplateStatus(StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


class DpStatus(StrEnum):
    """Where a generated DP may be seen.

    `visible`: its owner, its share page and its public image (and the gallery when opted
    in); `pending_review`: its owner only, until a moderator decides; `hidden`: its owner
    only (a moderator rejected it); `removed`: taken down, nowhere public; `deleted`: its
    owner deleted it, nowhere at all (the image is gone from storage).
    """

    VISIBLE = "visible"
    PENDING_REVIEW = "pending_review"
    HIDDEN = "hidden"
    REMOVED = "removed"
    DELETED = "deleted"


class Verdict(StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


class ClassifierState(StrEnum):
    """The image classifier's part in a DP's checks (`dp.service.safety`).

    `pending`: its verdict is not in yet (a `dp.classify` job); `done`: it answered;
    `unavailable`: it could not run (the `moderation` extra is absent): a person decides
    whether the DP may enter the gallery; `off`: the settings do not run it.
    """

    PENDING = "pending"
    DONE = "done"
    UNAVAILABLE = "unavailable"
    OFF = "off"


class ReportStatus(StrEnum):
    OPEN = "open"  # waiting for a moderator
    CLOSED = "closed"  # a moderator decided on the DP


class DpCampaign(Mutable, Base):
    __tablename__ = "dp_campaigns"
    __table_args__ = (
        enum_check("status", CampaignStatus),
        Index("ix_dp_campaigns_status_published", "status", "published_at"),
    )

    id: Mapped[DpCampaignId] = id_column()
    organization_id: Mapped[OrganizationId] = mapped_column(ForeignKey("organizations.id"))
    event_id: Mapped[EventId] = mapped_column(ForeignKey("events.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    verified_only: Mapped[bool] = mapped_column(default=False)
    status: Mapped[CampaignStatus] = enum_column(CampaignStatus, default=CampaignStatus.DRAFT)
    published_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class DpTemplate(Mutable, Base):
    __tablename__ = "dp_templates"
    __table_args__ = (enum_check("status", TemplateStatus),)

    id: Mapped[DpTemplateId] = id_column()
    campaign_id: Mapped[DpCampaignId] = mapped_column(ForeignKey("dp_campaigns.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    frame_file_id: Mapped[FileId] = mapped_column(ForeignKey("files.id"))
    layout: Mapped[dict[str, Any]]  # as validated by `dp.render.parse_layout`
    position: Mapped[int] = mapped_column(default=0)
    status: Mapped[TemplateStatus] = enum_column(TemplateStatus, default=TemplateStatus.ACTIVE)


class GeneratedDp(Mutable, Base):
    __tablename__ = "generated_dps"
    __table_args__ = (
        enum_check("status", DpStatus),
        enum_check("moderation_verdict", Verdict),
        enum_check("classifier_state", ClassifierState),
        # The review queue, oldest request first.
        Index("ix_generated_dps_review_queue", "review_requested_at", "id"),
        # The gallery: a campaign's visible, opted-in DPs, newest first.
        Index("ix_generated_dps_gallery", "campaign_id", "status", "share_to_hub", "created_at"),
        # Trending: generations per campaign in the last days.
        Index("ix_generated_dps_campaign_created", "campaign_id", "created_at"),
    )

    id: Mapped[GeneratedDpId] = id_column()
    campaign_id: Mapped[DpCampaignId] = mapped_column(ForeignKey("dp_campaigns.id"))
    template_id: Mapped[DpTemplateId] = mapped_column(ForeignKey("dp_templates.id"))
    owner_user_id: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"), index=True)
    # SHA-256 of the `dp_token` an anonymous generator holds (one token for all its DPs).
    owner_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # Who made it, for "distinct supporters": `u:<user id>` or `t:<token hash>`.
    supporter_key: Mapped[str] = mapped_column(String(80))
    is_verified: Mapped[bool] = mapped_column(default=False)
    texts: Mapped[dict[str, Any]] = mapped_column(JSONType)
    output_file_id: Mapped[FileId | None] = mapped_column(ForeignKey("files.id"))
    width: Mapped[int]
    height: Mapped[int]
    # The referral and share code: `/dp/s/{code}` and `?ref={code}` on the event's page.
    share_code: Mapped[str] = mapped_column(String(16), unique=True)
    share_to_hub: Mapped[bool] = mapped_column(default=False)
    status: Mapped[DpStatus] = enum_column(DpStatus)
    moderation_verdict: Mapped[Verdict] = enum_column(Verdict)
    moderation_reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
    deleted_at: Mapped[datetime | None]
    # The source photo's pHash (signed 64-bit, as the block-list stores it): the photo is
    # not kept, so "block this DP's photo" blocks this.
    photo_hash: Mapped[int | None] = mapped_column(BigInteger)
    classifier_state: Mapped[ClassifierState] = enum_column(
        ClassifierState, default=ClassifierState.OFF
    )
    # When every check allowed it (or a moderator approved it): only then may it enter the
    # gallery. None while a check is pending or could not run.
    cleared_at: Mapped[datetime | None]
    # In the review queue since (a review verdict, a report, an unavailable classifier on
    # an opted-in DP); None once a moderator decided.
    review_requested_at: Mapped[datetime | None]
    # Open reports (closed when a moderator decides).
    report_count: Mapped[int] = mapped_column(default=0)


class DpDailyCounter(Base):
    """Counts per campaign and day, added to in batches (`dp.service.analytics`)."""

    __tablename__ = "dp_daily_counters"

    campaign_id: Mapped[DpCampaignId] = mapped_column(
        ForeignKey("dp_campaigns.id"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    views: Mapped[int] = mapped_column(default=0)
    downloads: Mapped[int] = mapped_column(default=0)
    shares: Mapped[int] = mapped_column(default=0)


class DpReport(Timestamped, Base):
    """Someone's report of a public DP: one per reporter (`u:<user>` or `ip:<hash>`) and DP;
    a moderator's decision closes every open report of the DP."""

    __tablename__ = "dp_reports"
    __table_args__ = (
        enum_check("status", ReportStatus),
        UniqueConstraint("dp_id", "reporter_key"),
    )

    id: Mapped[DpReportId] = id_column()
    dp_id: Mapped[GeneratedDpId] = mapped_column(ForeignKey("generated_dps.id"), index=True)
    reporter_user_id: Mapped[UserId | None] = mapped_column(ForeignKey("users.id"))
    # Who reported: `u:<user id>` or `ip:<sha256 of the address>` (no raw address kept).
    reporter_key: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[ReportStatus] = enum_column(ReportStatus, default=ReportStatus.OPEN)


# --- batches (an organizer's CSV of names and photos, rendered by the workers) -------------


class BatchStatus(StrEnum):
    """`running` until no row is pending or rendering (then `completed`), or `cancelled` by
    its organizer (pending rows are then never claimed)."""

    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class BatchRowStatus(StrEnum):
    """`pending -> rendering -> done | failed`; `rendering` holds a lease
    (`claimed_until`): a row whose worker died is claimed again when it ends. A cancel turns
    `pending` rows `cancelled`."""

    PENDING = "pending"
    RENDERING = "rendering"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DpBatch(Mutable, Base):
    __tablename__ = "dp_batches"
    __table_args__ = (enum_check("status", BatchStatus),)

    id: Mapped[DpBatchId] = id_column()
    organization_id: Mapped[OrganizationId] = mapped_column(ForeignKey("organizations.id"))
    campaign_id: Mapped[DpCampaignId] = mapped_column(ForeignKey("dp_campaigns.id"), index=True)
    template_id: Mapped[DpTemplateId] = mapped_column(ForeignKey("dp_templates.id"))
    created_by_user_id: Mapped[UserId] = mapped_column(ForeignKey("users.id"))
    # The uploaded zip of photos (none when every row names an https:// URL).
    photos_file_id: Mapped[FileId | None] = mapped_column(ForeignKey("files.id"))
    status: Mapped[BatchStatus] = enum_column(BatchStatus, default=BatchStatus.RUNNING)
    total: Mapped[int]
    finished_at: Mapped[datetime | None]
    # Set when the retention purge took its files (the zip of photos, the rendered
    # pictures); the rows and their outcomes stay.
    purged_at: Mapped[datetime | None]


class DpBatchRow(Base):
    """One line of the CSV: rendered once by whichever worker claims it."""

    __tablename__ = "dp_batch_rows"
    __table_args__ = (
        enum_check("status", BatchRowStatus),
        ForeignKeyConstraint(["batch_id"], ["dp_batches.id"], ondelete="CASCADE"),
        # Claims and progress counts: a batch's rows by status, in line order.
        Index("ix_dp_batch_rows_claim", "batch_id", "status", "line"),
    )

    batch_id: Mapped[DpBatchId] = mapped_column(String(32), primary_key=True)
    line: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    photo: Mapped[str] = mapped_column(Text)  # a member of the zip, or an https:// URL
    status: Mapped[BatchRowStatus] = enum_column(BatchRowStatus)
    error: Mapped[str | None] = mapped_column(String(60))  # a stable code
    detail: Mapped[str | None] = mapped_column(String(300))
    output_file_id: Mapped[FileId | None] = mapped_column(ForeignKey("files.id"))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    # How many times a worker claimed the row: 1, unless a worker died holding it.
    claims: Mapped[int] = mapped_column(default=0)
