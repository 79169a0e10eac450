"""Campaigns of an event: created as drafts, published (with at least one template), closed.

`draft -> published -> closed`; a draft may also be closed. A closed campaign is read-only
and takes no new DPs, but its page and its DPs' share pages stay up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.errors import ScopeNotFound
from admitone.access.service import Scope, record_audit, require_capability
from admitone.core.clock import utcnow
from admitone.core.ids import DpCampaignId, EventId, UserId
from admitone.core.pagination import Keyset, SortKey
from admitone.core.slugs import insert_with_unique_slug
from admitone.dp import errors
from admitone.dp.models import CampaignStatus, DpCampaign, DpTemplate, TemplateStatus
from admitone.dp.schemas import CampaignCreate, CampaignUpdate
from admitone.dp.service.rules import ensure_open_for_changes, guard_campaign, slugify
from admitone.events.models import Event

NEWEST = Keyset(
    SortKey(DpCampaign.created_at.expression, datetime, descending=True),
    SortKey(DpCampaign.id.expression, str, descending=True),
)


def _snapshot(campaign: DpCampaign, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: getattr(campaign, f) for f in fields}


def create_campaign(
    session: Session, user_id: UserId, event_id: EventId, body: CampaignCreate
) -> DpCampaign:
    """A draft campaign of the event (`dp.manage` there); the slug is derived from the title
    unless given (`slug_taken` when a given one is in use)."""
    try:
        require_capability(session, user_id, Capability.DP_MANAGE, Scope.event(event_id))
    except ScopeNotFound as exc:
        raise errors.EventNotFound() from exc
    organization_id = session.scalar(select(Event.organization_id).where(Event.id == event_id))
    assert organization_id is not None
    campaign = DpCampaign(
        id=DpCampaignId.new(),
        organization_id=organization_id,
        event_id=event_id,
        title=body.title,
        description=body.description,
        verified_only=body.verified_only,
        status=CampaignStatus.DRAFT,
    )
    insert_with_unique_slug(
        session,
        campaign,
        DpCampaign.slug,
        base=slugify(campaign.title),
        requested=body.slug,
        taken=lambda _exhausted: errors.SlugTaken(),
    )
    record_audit(
        session,
        actor_user_id=user_id,
        action="dp_campaign.created",
        target_type="dp_campaign",
        target_id=campaign.id,
        organization_id=organization_id,
        after={"event_id": event_id, **_snapshot(campaign, ("title", "slug", "verified_only"))},
    )
    return campaign


def list_campaigns(
    session: Session, user_id: UserId, event_id: EventId, *, limit: int, cursor: str | None
) -> tuple[list[DpCampaign], str | None]:
    """The event's campaigns, newest first (`dp.manage`)."""
    try:
        require_capability(session, user_id, Capability.DP_MANAGE, Scope.event(event_id))
    except ScopeNotFound as exc:
        raise errors.EventNotFound() from exc
    query = select(DpCampaign).where(DpCampaign.event_id == event_id)
    return NEWEST.page(session, query, limit=limit, cursor=cursor)


def get_campaign(session: Session, user_id: UserId, campaign_id: DpCampaignId) -> DpCampaign:
    return guard_campaign(session, user_id, campaign_id)[0]


def update_campaign(
    session: Session, user_id: UserId, campaign_id: DpCampaignId, body: CampaignUpdate
) -> DpCampaign:
    """Changes the fields sent; a closed campaign refuses (`dp_campaign_not_editable`)."""
    campaign, _ = guard_campaign(session, user_id, campaign_id, lock=True)
    ensure_open_for_changes(campaign)
    changes = body.model_dump(exclude_unset=True)
    # Only the description can be cleared; a null title or verified_only changes nothing.
    changes = {k: v for k, v in changes.items() if v is not None or k == "description"}
    fields = tuple(k for k, v in changes.items() if getattr(campaign, k) != v)
    if not fields:
        return campaign
    before = _snapshot(campaign, fields)
    for name in fields:
        setattr(campaign, name, changes[name])
    session.flush()
    record_audit(
        session,
        actor_user_id=user_id,
        action="dp_campaign.updated",
        target_type="dp_campaign",
        target_id=campaign.id,
        organization_id=campaign.organization_id,
        before=before,
        after=_snapshot(campaign, fields),
    )
    return campaign


def publish_campaign(session: Session, user_id: UserId, campaign_id: DpCampaignId) -> DpCampaign:
    """`draft -> published`; needs a template (`dp_campaign_not_publishable`). Publishing a
    published campaign again is a no-op."""
    campaign, _ = guard_campaign(session, user_id, campaign_id, lock=True)
    if campaign.status == CampaignStatus.PUBLISHED:
        return campaign
    if campaign.status != CampaignStatus.DRAFT:
        raise errors.CampaignNotPublishable("A closed campaign cannot be published again.")
    has_template = session.scalar(
        select(
            exists().where(
                DpTemplate.campaign_id == campaign.id, DpTemplate.status == TemplateStatus.ACTIVE
            )
        )
    )
    if not has_template:
        raise errors.CampaignNotPublishable("Add a template before publishing the campaign.")
    campaign.status = CampaignStatus.PUBLISHED
    campaign.published_at = utcnow()
    session.flush()
    record_audit(
        session,
        actor_user_id=user_id,
        action="dp_campaign.published",
        target_type="dp_campaign",
        target_id=campaign.id,
        organization_id=campaign.organization_id,
        before={"status": CampaignStatus.DRAFT},
        after={"status": CampaignStatus.PUBLISHED},
    )
    return campaign


def close_campaign(session: Session, user_id: UserId, campaign_id: DpCampaignId) -> DpCampaign:
    """`draft | published -> closed` (a repeat is a no-op): no new DPs from then on."""
    campaign, _ = guard_campaign(session, user_id, campaign_id, lock=True)
    if campaign.status == CampaignStatus.CLOSED:
        return campaign
    before = campaign.status
    campaign.status = CampaignStatus.CLOSED
    campaign.closed_at = utcnow()
    session.flush()
    record_audit(
        session,
        actor_user_id=user_id,
        action="dp_campaign.closed",
        target_type="dp_campaign",
        target_id=campaign.id,
        organization_id=campaign.organization_id,
        before={"status": before},
        after={"status": CampaignStatus.CLOSED},
    )
    return campaign
