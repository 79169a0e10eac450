"""The DP API's request and response bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from admitone.core.ids import DpCampaignId, DpTemplateId, EventId, GeneratedDpId
from admitone.dp.models import CampaignStatus, ClassifierState, DpStatus, Verdict

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,118}[a-z0-9])?$")]
Description = Annotated[str, StringConstraints(max_length=5000)]


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    slug: Slug | None = None
    description: Description | None = None
    verified_only: bool = False


class CampaignUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    verified_only: bool | None = None


class TemplateSummary(BaseModel):
    id: DpTemplateId
    name: str
    position: int
    layout: dict[str, Any]
    preview_url: str
    created_at: datetime


class CampaignOut(BaseModel):
    id: DpCampaignId
    event_id: EventId
    title: str
    slug: str
    description: str | None
    verified_only: bool
    status: CampaignStatus
    page_url: str
    published_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Title | None = None
    position: int | None = Field(default=None, ge=0, le=1000)
    layout: dict[str, Any] | None = None


class TemplateOut(BaseModel):
    id: DpTemplateId
    campaign_id: DpCampaignId
    name: str
    position: int
    layout: dict[str, Any]
    preview_url: str
    created_at: datetime
    updated_at: datetime


class PublicTemplateText(BaseModel):
    key: str
    required: bool


class PublicTemplate(BaseModel):
    id: DpTemplateId
    name: str
    width: int
    height: int
    preview_url: str
    texts: list[PublicTemplateText]


class PublicEventRef(BaseModel):
    id: EventId
    title: str
    slug: str
    starts_at: datetime
    url: str


class Prefill(BaseModel):
    name: str | None


class PublicCampaignOut(BaseModel):
    id: DpCampaignId
    title: str
    slug: str
    description: str | None
    status: CampaignStatus
    event: PublicEventRef
    verified_only: bool
    templates: list[PublicTemplate]
    prefill: Prefill | None = None


class Moderation(BaseModel):
    verdict: Verdict
    reasons: list[str]
    classifier: ClassifierState = Field(
        default=ClassifierState.OFF,
        description="`pending` until the image classifier's verdict is in (a job); "
        "`unavailable` when it could not run (a moderator decides on the gallery).",
    )
    cleared: bool = Field(
        default=False,
        description="Every check allowed it (or a moderator approved it): it may appear in "
        "the gallery (when shared there).",
    )


class DpOut(BaseModel):
    id: GeneratedDpId
    campaign_id: DpCampaignId
    template_id: DpTemplateId
    status: DpStatus
    verified: bool
    texts: dict[str, Any]
    share_to_hub: bool
    image_url: str | None
    public_image_url: str | None
    share_url: str
    referral_code: str
    width: int
    height: int
    moderation: Moderation
    created_at: datetime
    dp_token: str | None = Field(
        default=None,
        description="Only for an anonymous caller, only in the answer to generate: the "
        "credential that reads and deletes its DPs (`X-DP-Token`); send it again on the "
        "next generate to keep all your DPs under one token.",
    )


class HubCampaign(BaseModel):
    id: DpCampaignId
    title: str
    slug: str
    description: str | None
    event: PublicEventRef
    page_url: str
    recent_generations: int
    published_at: datetime | None


class GalleryItem(BaseModel):
    id: GeneratedDpId
    image_url: str
    share_url: str
    verified: bool
    width: int
    height: int
    created_at: datetime


class DayStats(BaseModel):
    day: date
    views: int
    generations: int
    downloads: int
    shares: int


class DpReferrals(BaseModel):
    id: GeneratedDpId
    referral_code: str
    orders: int
    tickets: int


class StatsOut(BaseModel):
    views: int
    generations: int
    downloads: int
    shares: int
    supporters: int
    referred_orders: int
    referred_tickets: int
    by_day: list[DayStats]
    by_dp: list[DpReferrals] = Field(
        description="The DPs whose share links brought the most paid orders (top 20)."
    )


HubSort = Literal["newest", "trending"]
