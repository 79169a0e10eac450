"""Reports: anyone may report a public DP.

A report sends the DP to the review queue; `dp.reports_to_hide` open reports take it out of
public view (`pending_review`) until a moderator decides. One report per reporter and DP
(`u:<user id>`, or `ip:<HMAC of the address>` for an anonymous one, keyed by the
platform's secret: an unsalted hash of an IPv4 address is reversed by hashing all 2^32 of
them): a repeat changes nothing. The reason passes the word lists (a `block` word: 422
`report_reason_blocked`). The route rate-limits reports per address and per user before this runs.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.ids import DpReportId, GeneratedDpId, UserId
from admitone.dp import errors
from admitone.dp.models import DpCampaign, DpReport, DpStatus, GeneratedDp
from admitone.dp.service.rules import PUBLIC_CAMPAIGN, PUBLIC_DP
from admitone.integrations.moderation import Decision
from admitone.moderation import service as moderation
from admitone.settings import DpSettings, ModerationSettings


def reporter_key(user_id: UserId | None, ip: str, secret: bytes) -> str:
    """Who reported: the user, or the address as a keyed hash (never the address, nor a
    hash anyone without the secret could recompute)."""
    if user_id:
        return f"u:{user_id}"
    mac = hmac.new(secret, b"dp.reporter-ip:" + ip.encode(), hashlib.sha256)
    return "ip:" + mac.hexdigest()[:40]


def report_dp(
    session: Session,
    limits: DpSettings,
    checks: ModerationSettings,
    dp_id: GeneratedDpId,
    *,
    user_id: UserId | None,
    ip: str,
    secret: bytes,
    reason: str,
) -> tuple[DpReport, bool]:
    """Records a report of a public DP; returns it and whether it is new. `dp_not_found`
    for a DP that is not public (deleted, hidden, in review, taken down)."""
    if moderation.check_text(checks, reason).decision is Decision.BLOCK:
        raise errors.ReportReasonBlocked()
    dp = session.scalars(
        select(GeneratedDp)
        .join(DpCampaign, DpCampaign.id == GeneratedDp.campaign_id)
        .where(GeneratedDp.id == dp_id, GeneratedDp.status == PUBLIC_DP, *PUBLIC_CAMPAIGN)
        .with_for_update(of=GeneratedDp)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if dp is None:
        raise errors.DpNotFound()
    key = reporter_key(user_id, ip, secret)
    existing = session.scalar(
        select(DpReport).where(DpReport.dp_id == dp.id, DpReport.reporter_key == key)
    )
    if existing is not None:
        return existing, False
    report = DpReport(
        id=DpReportId.new(), dp_id=dp.id, reporter_user_id=user_id, reporter_key=key, reason=reason
    )
    try:
        with session.begin_nested():
            session.add(report)
    except IntegrityError:  # the same reporter, at the same moment
        found = session.scalar(
            select(DpReport).where(DpReport.dp_id == dp.id, DpReport.reporter_key == key)
        )
        assert found is not None
        return found, False
    now = utcnow()
    dp.report_count += 1
    dp.review_requested_at = dp.review_requested_at or now
    if dp.report_count >= limits.reports_to_hide and dp.status == DpStatus.VISIBLE:
        dp.status = DpStatus.PENDING_REVIEW
    session.flush()
    return report, True
