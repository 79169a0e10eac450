"""Generating a DP: plan (a query), render (an action, outside any transaction), record (a
mutation).

`generate_dp` is the whole use case: the plan checks the campaign, the template and the
caller (a `verified_only` campaign needs a valid pass: `pass_required`); the photo is opened
with its limits and rendered under the frame with no transaction open; safety decides; the
output is stored; one mutation records the DP. The uploaded photo is never stored: only the
rendered picture is (docs/dp.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from admitone.core import jobs
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.files import File
from admitone.core.ids import DpCampaignId, DpTemplateId, EventId, FileId, GeneratedDpId, UserId
from admitone.dp import errors
from admitone.dp.models import (
    CampaignStatus,
    ClassifierState,
    DpCampaign,
    DpTemplate,
    GeneratedDp,
    TemplateStatus,
)
from admitone.dp.render import open_photo, render_dp
from admitone.dp.service import safety
from admitone.dp.service.rules import CLASSIFY_JOB, new_dp_token, new_share_code, token_hash
from admitone.dp.service.templates import PREPARED
from admitone.integrations.storage import Storage, StorageError
from admitone.moderation import service as moderation_service
from admitone.orders.models import Order
from admitone.passes.models import Pass
from admitone.settings import DpSettings, ModerationSettings

log = logging.getLogger(__name__)

NAME_KEY = "name"
MAX_TEXT_LENGTH = 200
# Orders whose passes count as held: paid, also after a partial refund.
HELD_ORDER = ("paid", "partially_refunded")


@dataclass(frozen=True)
class Plan:
    campaign_id: DpCampaignId
    event_id: EventId
    template: DpTemplate
    frame_key: str
    owner_user_id: UserId | None
    verified: bool
    texts: dict[str, str]


@dataclass(frozen=True)
class Generated:
    dp: GeneratedDp
    dp_token: str | None  # for an anonymous caller only


def parse_texts(raw: Any) -> dict[str, str]:
    """The `texts` field: a JSON object of strings (`invalid_texts` otherwise)."""
    if not isinstance(raw, dict):
        raise errors.InvalidTexts()
    texts: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str) or len(key) > 40:
            raise errors.InvalidTexts(f"The text '{key[:40]}' must be a string.", key=key[:40])
        if len(value) > MAX_TEXT_LENGTH:
            raise errors.InvalidTexts(
                f"The text '{key}' is longer than {MAX_TEXT_LENGTH} characters.", key=key
            )
        texts[key] = value.strip()
    return texts


def held_pass_name(session: Session, user_id: UserId, event_id: EventId) -> str | None:
    """The attendee name of a valid pass of the event that the user holds in a paid order, ""
    when the pass has no name; None when the user holds none."""
    row = session.execute(
        select(Pass.attendee_name)
        .join(Order, Order.id == Pass.order_id)
        .where(
            Pass.holder_user_id == user_id,
            Pass.event_id == event_id,
            Pass.status == "valid",
            Order.status.in_(HELD_ORDER),
        )
        .order_by(Pass.created_at)
        .limit(1)
    ).first()
    if row is None:
        return None
    return row[0] or ""


def plan_generation(
    session: Session,
    campaign_id: DpCampaignId,
    template_id: DpTemplateId,
    user_id: UserId | None,
    texts: dict[str, str],
) -> Plan:
    """Raises `dp_campaign_not_found` (no public campaign), `dp_campaign_not_open` (closed),
    `dp_template_not_found`, `pass_required`."""
    campaign = session.get(DpCampaign, campaign_id)
    if campaign is None or campaign.status == CampaignStatus.DRAFT:
        raise errors.CampaignNotFound()
    if campaign.status != CampaignStatus.PUBLISHED:
        raise errors.CampaignNotOpen()
    row = session.execute(
        select(DpTemplate, File.storage_key)
        .join(File, File.id == DpTemplate.frame_file_id)
        .where(
            DpTemplate.id == template_id,
            DpTemplate.campaign_id == campaign.id,
            DpTemplate.status == TemplateStatus.ACTIVE,
        )
    ).one_or_none()
    if row is None:
        raise errors.TemplateNotFound()
    template, key = row
    name = held_pass_name(session, user_id, campaign.event_id) if user_id else None
    if campaign.verified_only and name is None:
        raise errors.PassRequired()
    keys = {str(t.get("key")) for t in template.layout.get("texts", [])}
    if name and NAME_KEY in keys and not texts.get(NAME_KEY):
        texts = {**texts, NAME_KEY: name}
    return Plan(
        campaign_id=campaign.id,
        event_id=campaign.event_id,
        template=template,
        frame_key=key,
        owner_user_id=user_id,
        verified=name is not None,
        texts=texts,
    )


def generate_dp(
    db: Database,
    storage: Storage,
    limits: DpSettings,
    *,
    campaign_id: DpCampaignId,
    template_id: DpTemplateId,
    user_id: UserId | None,
    dp_token: str | None,
    photo: bytes,
    texts: dict[str, str],
    share_to_hub: bool,
    moderation: ModerationSettings | None = None,
) -> Generated:
    """The use case (module docstring). An anonymous caller may send the `dp_token` of its
    earlier DPs to keep them under one token; else it gets a new one."""
    token = None if user_id else (dp_token or new_dp_token())
    token_digest = token_hash(token) if token else None
    plan = db.query(plan_generation, campaign_id, template_id, user_id, texts)
    layout, frame = PREPARED.get(plan.template, lambda: storage.get(plan.frame_key))
    image = open_photo(
        photo,
        max_bytes=limits.max_upload_bytes,
        max_pixels=limits.max_photo_pixels,
        cover=layout.photo.size,
    )
    checks = None
    if moderation is not None:
        blocked = (
            db.query(moderation_service.blocked_hashes, moderation)
            if "hash_blocklist" in moderation.image_checks
            else None
        )
        checks = safety.checks_for(moderation, blocked)
    decision = safety.decide(image, plan.texts, checks)
    safety.refuse_blocked(decision)
    rendered = render_dp(frame, layout, image, plan.texts)
    dp_id = GeneratedDpId.new()
    file_id = FileId.new()
    extension = "png" if rendered.content_type == "image/png" else "jpg"
    key = f"dp/outputs/{plan.campaign_id}/{dp_id}.{extension}"
    try:
        storage.put(key, rendered.data, rendered.content_type)
    except StorageError as exc:
        log.exception("DP %s could not be stored", dp_id)
        raise errors.StorageUnavailable() from exc
    output = File(
        id=file_id,
        storage_key=key,
        content_type=rendered.content_type,
        size_bytes=len(rendered.data),
        sha256=hashlib.sha256(rendered.data).hexdigest(),
        owner_user_id=user_id,
    )
    dp = GeneratedDp(
        id=dp_id,
        campaign_id=plan.campaign_id,
        template_id=plan.template.id,
        owner_user_id=user_id,
        owner_token_hash=token_digest,
        supporter_key=f"u:{user_id}" if user_id else f"t:{token_digest}",
        is_verified=plan.verified,
        texts=plan.texts,
        output_file_id=file_id,
        width=rendered.width,
        height=rendered.height,
        share_to_hub=share_to_hub,
    )
    safety.apply(dp, decision, utcnow())
    try:
        recorded = db.mutation(record_dp, output, dp)
    except BaseException:
        with contextlib.suppress(StorageError):
            storage.delete(key)  # never recorded, so nothing refers to it
        raise
    return Generated(recorded, token)


def record_dp(session: Session, output: File, dp: GeneratedDp) -> GeneratedDp:
    """Records the stored picture; the campaign must still be open (it may have closed while
    the picture rendered). A share code taken by another DP is drawn again."""
    status = session.scalar(
        select(DpCampaign.status).where(DpCampaign.id == dp.campaign_id).with_for_update(read=True)
    )
    if status != CampaignStatus.PUBLISHED:
        raise errors.CampaignNotOpen()
    session.add(output)
    session.flush()
    for _ in range(5):
        dp.share_code = new_share_code()
        try:
            with session.begin_nested():
                session.add(dp)
            break
        except IntegrityError:
            if dp in session:
                session.expunge(dp)
    else:
        raise AssertionError("no free share code after 5 draws of 31^10")
    if dp.classifier_state == ClassifierState.PENDING:
        jobs.schedule(session, CLASSIFY_JOB, {"dp_id": dp.id})
    return dp
