"""Moderating DPs: the classifier job, the review queue and moderators' decisions.

Who moderates (`dp.moderate`): platform moderators (and superadmins) everywhere; an
organization's owners and admins (team or workspace) for their own campaigns' DPs. A
stranger to the DP's organization gets `dp_not_found`, a member without the capability 403.

Decisions (`approve`, `reject`, `takedown`) move a DP and close its open reports:

    approve:  pending_review | hidden | removed | visible -> visible, cleared for the gallery
    reject:   ... -> hidden   (its owner still sees it)
    takedown: ... -> removed  (nowhere public; the public image answers 404 at once)

A decision that changes nothing (the DP is already there and out of the queue) is a no-op:
no audit row, no notification. Every other one is audited `generated_dp.<verb>` in the
campaign's organization; approve and takedown notify a signed-in owner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.errors import ScopeNotFound
from admitone.access.service import Guarded, Scope, guard, require_capability
from admitone.core import outbox
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.files import File
from admitone.core.ids import GeneratedDpId, OrganizationId, UserId
from admitone.core.pagination import Keyset, SortKey
from admitone.dp import errors
from admitone.dp.models import (
    ClassifierState,
    DpCampaign,
    DpReport,
    DpStatus,
    GeneratedDp,
    ReportStatus,
)
from admitone.dp.service import safety
from admitone.integrations import moderation as checks
from admitone.integrations.storage import BlobNotFound, Storage
from admitone.moderation import service as moderation
from admitone.moderation.models import BlockedImageHash, BlockSource
from admitone.settings import ModerationSettings

log = logging.getLogger(__name__)

# The latest open report reasons a queue item shows.
QUEUE_REASONS = 5

QUEUE = Keyset(
    SortKey(GeneratedDp.review_requested_at.expression, datetime, attribute="requested"),
    SortKey(GeneratedDp.id.expression, str, attribute="dp_id"),
)


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    TAKEDOWN = "takedown"


_TARGET = {
    Action.APPROVE: DpStatus.VISIBLE,
    Action.REJECT: DpStatus.HIDDEN,
    Action.TAKEDOWN: DpStatus.REMOVED,
}
_AUDIT = {
    Action.APPROVE: "generated_dp.approved",
    Action.REJECT: "generated_dp.rejected",
    Action.TAKEDOWN: "generated_dp.taken_down",
}


# --- the classifier job ---------------------------------------------------------------------


def _awaiting(session: Session, dp_id: GeneratedDpId) -> str | None:
    """The stored picture of a DP whose classifier verdict is pending, else None."""
    return session.scalar(
        select(File.storage_key)
        .join(GeneratedDp, GeneratedDp.output_file_id == File.id)
        .where(GeneratedDp.id == dp_id, GeneratedDp.classifier_state == ClassifierState.PENDING)
    )


def _settle(session: Session, dp_id: GeneratedDpId, answer: checks.Verdict) -> None:
    dp = session.scalars(
        select(GeneratedDp)
        .where(GeneratedDp.id == dp_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if dp is not None:
        safety.settle_classifier(dp, answer, utcnow())


def classify_dp(
    db: Database, storage: Storage, settings: ModerationSettings, dp_id: GeneratedDpId
) -> None:
    """The `dp.classify` job: runs the classifier on the DP's stored picture (decoded and
    downscaled by us) outside any transaction, then records the verdict. Safe to run twice:
    a DP no longer pending is left alone."""
    key = db.query(_awaiting, dp_id)
    if key is None:
        return
    try:
        data = storage.get(key)
    except BlobNotFound:  # deleted by its owner meanwhile
        return
    image = checks.decode_for_checks(data, max_pixels=settings.max_image_pixels)
    answer = checks.classifier_check(settings).check(image)
    db.mutation(_settle, dp_id, answer)


# --- who may moderate a DP --------------------------------------------------------------------


def _organization_of(session: Session, dp_id: GeneratedDpId) -> OrganizationId:
    org_id = session.scalar(
        select(DpCampaign.organization_id)
        .join(GeneratedDp, GeneratedDp.campaign_id == DpCampaign.id)
        .where(GeneratedDp.id == dp_id, GeneratedDp.status != DpStatus.DELETED)
    )
    if org_id is None:
        raise errors.DpNotFound()
    return org_id


def guard_dp(session: Session, actor: UserId, dp_id: GeneratedDpId) -> Guarded:
    """`dp.moderate` over the DP's campaign's organization; `dp_not_found` for a DP that
    does not exist, was deleted by its owner, or is not in the caller's organizations."""
    org_id = _organization_of(session, dp_id)
    try:
        return guard(session, actor, Capability.DP_MODERATE, Scope.organization(org_id))
    except ScopeNotFound as exc:
        raise errors.DpNotFound() from exc


def _locked(session: Session, dp_id: GeneratedDpId) -> GeneratedDp:
    return session.scalars(
        select(GeneratedDp)
        .where(GeneratedDp.id == dp_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


# --- the queue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    dp: GeneratedDp
    campaign: DpCampaign
    report_reasons: list[str]


def review_queue(
    session: Session,
    actor: UserId,
    *,
    organization_id: OrganizationId | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[QueueItem], str | None]:
    """DPs waiting for a moderator, oldest request first, with the checks' reasons, the open
    report count and the latest report reasons. Without `organization_id`: the whole
    platform (platform moderators); with it: that organization's campaigns."""
    scope = Scope.organization(organization_id) if organization_id else Scope.platform()
    require_capability(session, actor, Capability.DP_MODERATE, scope)
    query = (
        select(
            GeneratedDp,
            DpCampaign,
            GeneratedDp.review_requested_at.label("requested"),
            GeneratedDp.id.label("dp_id"),
        )
        .join(DpCampaign, DpCampaign.id == GeneratedDp.campaign_id)
        .where(
            GeneratedDp.review_requested_at.is_not(None),
            GeneratedDp.status != DpStatus.DELETED,
        )
    )
    if organization_id:
        query = query.where(DpCampaign.organization_id == organization_id)
    rows, next_cursor = QUEUE.page(session, query, limit=limit, cursor=cursor, scalars=False)
    reasons: dict[str, list[str]] = {}
    ids = [r[0].id for r in rows]
    if ids:
        found = session.execute(
            select(DpReport.dp_id, DpReport.reason)
            .where(DpReport.dp_id.in_(ids), DpReport.status == ReportStatus.OPEN)
            .order_by(DpReport.created_at.desc(), DpReport.id.desc())
        )
        for dp_id, reason in found:
            listed = reasons.setdefault(dp_id, [])
            if len(listed) < QUEUE_REASONS:
                listed.append(reason)
    return [QueueItem(r[0], r[1], reasons.get(r[0].id, [])) for r in rows], next_cursor


# --- decisions --------------------------------------------------------------------------------


def _close_reports(session: Session, dp: GeneratedDp) -> None:
    session.execute(
        update(DpReport)
        .where(DpReport.dp_id == dp.id, DpReport.status == ReportStatus.OPEN)
        .values(status=ReportStatus.CLOSED)
    )
    dp.report_count = 0


def moderate_dp(
    session: Session,
    actor: UserId,
    dp_id: GeneratedDpId,
    action: Action,
    reason: str | None = None,
) -> GeneratedDp:
    """Approve, reject or take down a DP (module docstring)."""
    g = guard_dp(session, actor, dp_id)
    dp = _locked(session, dp_id)
    target = _TARGET[action]
    cleared = dp.cleared_at is not None
    if (
        dp.status == target
        and dp.review_requested_at is None
        and cleared == (action == Action.APPROVE)
    ):
        return dp
    before = str(dp.status)
    now = utcnow()
    dp.status = target
    dp.review_requested_at = None
    dp.cleared_at = (dp.cleared_at or now) if action == Action.APPROVE else None
    open_reports = dp.report_count
    _close_reports(session, dp)
    g.audit(
        _AUDIT[action],
        "generated_dp",
        dp.id,
        before={"status": before, "open_reports": open_reports},
        after={"status": str(target), "reason": reason},
    )
    if dp.owner_user_id is not None and action != Action.REJECT:
        title = session.scalar(select(DpCampaign.title).where(DpCampaign.id == dp.campaign_id))
        data: dict[str, Any] = {"dp_id": dp.id, "campaign_title": title}
        if action == Action.TAKEDOWN:
            data["reason"] = reason or ""
        kind = "dp_approved" if action == Action.APPROVE else "dp_taken_down"
        outbox.notify(session, kind, users=[dp.owner_user_id], data=data)
    session.flush()
    return dp


def block_dp_photo(
    session: Session, actor: UserId, dp_id: GeneratedDpId, reason: str | None = None
) -> tuple[BlockedImageHash, bool]:
    """Adds the DP's source photo (its pHash, kept at generation) to the block-list:
    platform moderators only (the list is platform-wide). `dp_photo_unknown` when the DP
    was made without the block-list check (no hash was kept)."""
    require_capability(session, actor, Capability.DP_MODERATE, Scope.platform())
    photo_hash = session.scalar(
        select(GeneratedDp.photo_hash).where(
            GeneratedDp.id == dp_id, GeneratedDp.status != DpStatus.DELETED
        )
    )
    if photo_hash is None:
        if session.get(GeneratedDp, dp_id) is None:
            raise errors.DpNotFound()
        raise errors.DpPhotoUnknown()
    return moderation.block_image(
        session, actor, photo_hash, source=BlockSource.DP, source_id=dp_id, reason=reason
    )


def moderated_image(session: Session, actor: UserId, dp_id: GeneratedDpId) -> File:
    """A DP's picture for its moderators, whatever its status (but deleted)."""
    guard_dp(session, actor, dp_id)
    stored = session.scalar(
        select(File)
        .join(GeneratedDp, GeneratedDp.output_file_id == File.id)
        .where(GeneratedDp.id == dp_id)
    )
    if stored is None:
        raise errors.DpNotFound()
    return stored
