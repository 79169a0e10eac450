"""What every DP use case shares: finding a campaign or template the caller may manage, the
public rules (which campaigns and DPs anyone may see), slugs, codes and tokens."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.errors import ScopeNotFound
from admitone.access.service import Grant, Scope, require_capability
from admitone.core import files, slugs
from admitone.core.ids import DpCampaignId, DpTemplateId, UserId
from admitone.dp import errors
from admitone.dp.models import CampaignStatus, DpCampaign, DpStatus, DpTemplate, TemplateStatus

DELETE_BLOB_JOB = "dp.delete_blob"
# The image classifier's verdict on a new DP (`dp.service.review.classify_dp`).
CLASSIFY_JOB = "dp.classify"
# Campaigns whose public page exists (a closed one still shows, and refuses new DPs).
PUBLIC_CAMPAIGN = (DpCampaign.status.in_((CampaignStatus.PUBLISHED, CampaignStatus.CLOSED)),)
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes get typed
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")


def guard_campaign(
    session: Session,
    user_id: UserId,
    campaign_id: DpCampaignId,
    capability: Capability = Capability.DP_MANAGE,
    *,
    lock: bool = False,
) -> tuple[DpCampaign, Grant]:
    """The campaign, if the caller holds `capability` at its event; a stranger gets
    `dp_campaign_not_found` exactly as for a campaign that does not exist."""
    event_id = session.scalar(select(DpCampaign.event_id).where(DpCampaign.id == campaign_id))
    if event_id is None:
        raise errors.CampaignNotFound()
    try:
        grant = require_capability(session, user_id, capability, Scope.event(event_id))
    except ScopeNotFound as exc:
        raise errors.CampaignNotFound() from exc
    query = select(DpCampaign).where(DpCampaign.id == campaign_id)
    if lock:
        query = query.with_for_update()
    campaign = session.scalars(query.execution_options(populate_existing=True)).one()
    return campaign, grant


def guard_template(
    session: Session, user_id: UserId, template_id: DpTemplateId, *, lock: bool = False
) -> tuple[DpTemplate, DpCampaign]:
    """A live template of a campaign the caller manages; else `dp_template_not_found`."""
    campaign_id = session.scalar(
        select(DpTemplate.campaign_id).where(
            DpTemplate.id == template_id, DpTemplate.status == TemplateStatus.ACTIVE
        )
    )
    if campaign_id is None:
        raise errors.TemplateNotFound()
    try:
        campaign, _ = guard_campaign(session, user_id, campaign_id, lock=lock)
    except errors.CampaignNotFound as exc:
        raise errors.TemplateNotFound() from exc
    template = session.get(DpTemplate, template_id, populate_existing=True)
    assert template is not None
    return template, campaign


def ensure_open_for_changes(campaign: DpCampaign) -> None:
    if campaign.status == CampaignStatus.CLOSED:
        raise errors.CampaignNotEditable()


def slugify(title: str) -> str:
    """The slug a campaign gets from its title (`dp` when nothing of it survives)."""
    return slugs.slugify(title, "dp")


def new_share_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))


def new_dp_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The stored form of a `dp_token` (a credential: only its hash is kept). Raises
    `invalid_dp_token` for a string that no token of ours looks like."""
    if not _TOKEN.fullmatch(token):
        raise errors.InvalidDpToken()
    return hashlib.sha256(token.encode()).hexdigest()


# DPs anyone with the link sees (share page, public image); the gallery adds the opt-in.
PUBLIC_DP = DpStatus.VISIBLE


def release_file(session: Session, file_id: str) -> None:
    """Deletes the file's row unless a row still refers to it; its blob is deleted by the
    `dp.delete_blob` job once this transaction has committed."""
    files.release_file(session, file_id, DELETE_BLOB_JOB)
