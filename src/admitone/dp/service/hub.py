"""What anyone may see: a campaign's public data, the hub of published campaigns, each
campaign's gallery, a public DP's image and a DP's share page.

Public means: a published (or closed) campaign; a DP whose status is `visible` (allowed by
`safety`); the gallery adds the owner's opt-in (`share_to_hub`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.files import File
from admitone.core.ids import DpCampaignId, GeneratedDpId, UserId
from admitone.core.pagination import Keyset, SortKey
from admitone.dp import errors
from admitone.dp.models import CampaignStatus, DpCampaign, DpStatus, DpTemplate, GeneratedDp
from admitone.dp.service.generation import held_pass_name
from admitone.dp.service.rules import PUBLIC_CAMPAIGN, PUBLIC_DP
from admitone.dp.service.templates import list_templates
from admitone.events.models import Event

TRENDING_WINDOW = timedelta(days=7)

GALLERY = Keyset(
    SortKey(GeneratedDp.created_at.expression, datetime, descending=True),
    SortKey(GeneratedDp.id.expression, str, descending=True),
)


@dataclass(frozen=True)
class PublicCampaign:
    campaign: DpCampaign
    event: Event
    templates: list[DpTemplate]
    prefill_name: str | None  # the caller's pass's attendee name ("" when it has none)
    holds_pass: bool


def public_campaign(session: Session, slug: str, user_id: UserId | None) -> PublicCampaign:
    row = session.execute(
        select(DpCampaign, Event)
        .join(Event, Event.id == DpCampaign.event_id)
        .where(DpCampaign.slug == slug, *PUBLIC_CAMPAIGN)
    ).one_or_none()
    if row is None:
        raise errors.CampaignNotFound()
    campaign, event = row
    name = held_pass_name(session, user_id, event.id) if user_id else None
    return PublicCampaign(
        campaign, event, list_templates(session, campaign.id), name, name is not None
    )


@dataclass(frozen=True)
class HubRow:
    campaign: DpCampaign
    event: Event
    recent: int


def hub(
    session: Session, *, q: str | None, sort: str, limit: int, cursor: str | None
) -> tuple[list[HubRow], str | None]:
    """Published campaigns; `q` searches titles (campaign and event); `newest` by publication,
    `trending` by DPs generated in the last 7 days that are public now (not removed, hidden,
    deleted or held for review: what a moderator took out does not count)."""
    recent = (
        select(GeneratedDp.campaign_id, func.count().label("n"))
        .where(
            GeneratedDp.created_at >= utcnow() - TRENDING_WINDOW,
            GeneratedDp.status == PUBLIC_DP,
        )
        .group_by(GeneratedDp.campaign_id)
        .subquery()
    )
    recent_n = func.coalesce(recent.c.n, 0)
    query = cast(
        Select[Any],
        select(
            DpCampaign,
            Event,
            recent_n.label("recent"),
            DpCampaign.id.label("cid"),
            DpCampaign.published_at.label("published"),
        )
        .join(Event, Event.id == DpCampaign.event_id)
        .outerjoin(recent, recent.c.campaign_id == DpCampaign.id)
        .where(DpCampaign.status == CampaignStatus.PUBLISHED),
    )
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                DpCampaign.title.ilike(pattern, escape="\\"),
                Event.title.ilike(pattern, escape="\\"),
            )
        )
    keyset = (
        Keyset(
            SortKey(recent_n, int, descending=True, attribute="recent"),
            SortKey(DpCampaign.id.expression, str, descending=True, attribute="cid"),
        )
        if sort == "trending"
        else Keyset(
            SortKey(
                DpCampaign.published_at.expression, datetime, descending=True, attribute="published"
            ),
            SortKey(DpCampaign.id.expression, str, descending=True, attribute="cid"),
        )
    )
    rows, next_cursor = keyset.page(session, query, limit=limit, cursor=cursor, scalars=False)
    return [HubRow(r[0], r[1], int(r[2])) for r in rows], next_cursor


def gallery(
    session: Session, slug: str, *, limit: int, cursor: str | None
) -> tuple[list[GeneratedDp], str | None]:
    """A public campaign's opted-in DPs that every check allowed (`cleared_at`), newest
    first: not while the classifier's verdict is pending or a report is being reviewed."""
    campaign_id = session.scalar(
        select(DpCampaign.id).where(DpCampaign.slug == slug, *PUBLIC_CAMPAIGN)
    )
    if campaign_id is None:
        raise errors.CampaignNotFound()
    query = select(GeneratedDp).where(
        GeneratedDp.campaign_id == campaign_id,
        GeneratedDp.status == PUBLIC_DP,
        GeneratedDp.share_to_hub.is_(True),
        GeneratedDp.cleared_at.is_not(None),
    )
    return GALLERY.page(session, query, limit=limit, cursor=cursor)


def public_dp_image(session: Session, dp_id: GeneratedDpId) -> tuple[DpCampaignId, File, bool]:
    """A visible DP's image, its campaign and whether every check cleared it;
    `dp_not_found` once deleted, hidden, in review or taken down."""
    row = session.execute(
        select(GeneratedDp.campaign_id, File, GeneratedDp.cleared_at.is_not(None))
        .join(File, File.id == GeneratedDp.output_file_id)
        .where(GeneratedDp.id == dp_id, GeneratedDp.status == PUBLIC_DP)
    ).one_or_none()
    if row is None:
        raise errors.DpNotFound()
    return row[0], row[1], bool(row[2])


@dataclass(frozen=True)
class SharePage:
    code: str
    dp: GeneratedDp | None  # None: deleted, taken down or not public (the page says so)
    campaign: DpCampaign
    event: Event


def share_page(session: Session, code: str) -> SharePage:
    """What `/dp/s/{code}` shows; `dp_not_found` for a code no DP ever had."""
    row = session.execute(
        select(GeneratedDp, DpCampaign, Event)
        .join(DpCampaign, DpCampaign.id == GeneratedDp.campaign_id)
        .join(Event, Event.id == DpCampaign.event_id)
        .where(GeneratedDp.share_code == code)
    ).one_or_none()
    if row is None:
        raise errors.DpNotFound()
    dp, campaign, event = row
    shown = dp if dp.status == DpStatus.VISIBLE and dp.output_file_id else None
    return SharePage(code, shown, campaign, event)
