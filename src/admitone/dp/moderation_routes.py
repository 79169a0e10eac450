"""DP moderation routes: the review queue, moderators' decisions, blocking a DP's photo, a
DP's picture for its moderators, and reports from anyone."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from limits import RateLimitItem, parse_many
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from admitone.auth.deps import CurrentUser, OptionalUser
from admitone.core.errors import RateLimited
from admitone.core.http import Db, Page, Paging, app_settings, client_ip
from admitone.core.ids import DpCampaignId, GeneratedDpId, OrganizationId
from admitone.core.ratelimit import Limiter
from admitone.dp import service
from admitone.dp.models import ClassifierState, DpStatus, GeneratedDp, Verdict
from admitone.dp.views import IMAGE_RESPONSES, DpPath, base_url, image_response
from admitone.moderation.schemas import BlockedImageOut
from admitone.settings import Settings

api_router = APIRouter(tags=["dp moderation"])

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = Field(
        default=None, description="Why (kept in the audit log; a takedown tells the owner)."
    )


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class ReportOut(BaseModel):
    received: bool = True
    created: bool = Field(description="False when you had already reported this DP.")


class QueueCampaign(BaseModel):
    id: DpCampaignId
    title: str
    organization_id: OrganizationId


class QueueItemOut(BaseModel):
    id: GeneratedDpId
    status: DpStatus
    campaign: QueueCampaign
    image_url: str = Field(description="The picture, for its moderators only.")
    texts: dict[str, Any]
    share_to_hub: bool
    verdict: Verdict
    reasons: list[str] = Field(description="What the checks said (`possible_nudity`, ...).")
    classifier: ClassifierState
    report_count: int = Field(description="Open reports.")
    report_reasons: list[str] = Field(description="The latest open reports' reasons.")
    review_requested_at: datetime
    created_at: datetime


class ModeratedDpOut(BaseModel):
    id: GeneratedDpId
    status: DpStatus
    cleared: bool
    report_count: int


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        401: "Not signed in (`unauthorized`).",
        403: "Missing `dp.moderate` (`capability_required`).",
        404: "No such DP, or not in your organizations (`dp_not_found`).",
    }
    return {c: {"description": text[c]} for c in codes}


def _moderated(dp: GeneratedDp) -> ModeratedDpOut:
    return ModeratedDpOut(
        id=dp.id, status=dp.status, cleared=dp.cleared_at is not None, report_count=dp.report_count
    )


# --- moderators ---------------------------------------------------------------------------


@api_router.get(
    "/moderation/queue",
    response_model=Page[QueueItemOut],
    responses={
        **_responses(401, 403),
        404: {"description": "No platform role (without `organization_id`), or no role in it."},
        422: {"description": "A bad cursor (`invalid_cursor`)."},
    },
)
def review_queue(
    request: Request,
    db: Db,
    actor: CurrentUser,
    paging: Paging,
    organization_id: Annotated[OrganizationId | None, Query()] = None,
) -> Page[QueueItemOut]:
    """DPs waiting for a moderator, oldest first, with the checks' reasons and the open
    reports. Platform moderators see every campaign; an organization's owners and admins
    pass `organization_id` and see its campaigns."""
    rows, next_cursor = db.query(
        service.review_queue,
        actor.user_id,
        organization_id=organization_id,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    base = base_url(app_settings(request))
    items = []
    for item in rows:
        dp, campaign = item.dp, item.campaign
        assert dp.review_requested_at is not None
        items.append(
            QueueItemOut(
                id=dp.id,
                status=dp.status,
                campaign=QueueCampaign(
                    id=campaign.id, title=campaign.title, organization_id=campaign.organization_id
                ),
                image_url=f"{base}/api/v1/moderation/dps/{dp.id}/image",
                texts=dp.texts,
                share_to_hub=dp.share_to_hub,
                verdict=dp.moderation_verdict,
                reasons=dp.moderation_reasons,
                classifier=dp.classifier_state,
                report_count=dp.report_count,
                report_reasons=item.report_reasons,
                review_requested_at=dp.review_requested_at,
                created_at=dp.created_at,
            )
        )
    return Page(items=items, next_cursor=next_cursor)


def _decide(
    db: Db,
    actor: CurrentUser,
    dp_id: GeneratedDpId,
    action: service.Action,
    body: DecisionIn | None,
) -> ModeratedDpOut:
    reason = body.reason if body else None
    return _moderated(db.mutation(service.moderate_dp, actor.user_id, dp_id, action, reason))


@api_router.post(
    "/moderation/dps/{dp_id}/approve",
    response_model=ModeratedDpOut,
    responses=_responses(401, 403, 404),
)
def approve_dp(
    db: Db, actor: CurrentUser, dp_id: DpPath, body: DecisionIn | None = None
) -> ModeratedDpOut:
    """The DP is public again (`visible`) and cleared for the gallery; its open reports are
    closed. Audited `generated_dp.approved`; its signed-in owner is notified."""
    return _decide(db, actor, dp_id, service.Action.APPROVE, body)


@api_router.post(
    "/moderation/dps/{dp_id}/reject",
    response_model=ModeratedDpOut,
    responses=_responses(401, 403, 404),
)
def reject_dp(
    db: Db, actor: CurrentUser, dp_id: DpPath, body: DecisionIn | None = None
) -> ModeratedDpOut:
    """The DP is private to its owner (`hidden`). Audited `generated_dp.rejected`."""
    return _decide(db, actor, dp_id, service.Action.REJECT, body)


@api_router.post(
    "/moderation/dps/{dp_id}/takedown",
    response_model=ModeratedDpOut,
    responses=_responses(401, 403, 404),
)
def takedown_dp(
    db: Db, actor: CurrentUser, dp_id: DpPath, body: DecisionIn | None = None
) -> ModeratedDpOut:
    """The DP is `removed` from every public place at commit: the gallery, the share page
    (410) and its public image (404; caches revalidate every use). Audited
    `generated_dp.taken_down`; its signed-in owner is notified with the reason."""
    return _decide(db, actor, dp_id, service.Action.TAKEDOWN, body)


@api_router.post(
    "/moderation/dps/{dp_id}/block-photo",
    response_model=BlockedImageOut,
    status_code=201,
    responses={
        **_responses(401, 403, 404),
        200: {"description": "The photo's hash was already blocked (`created: false`)."},
        409: {"description": "No hash was kept for this DP (`dp_photo_unknown`)."},
    },
)
def block_dp_photo(
    response: Response, db: Db, actor: CurrentUser, dp_id: DpPath, body: DecisionIn | None = None
) -> BlockedImageOut:
    """Adds the DP's source photo to the platform's block-list (platform moderators): any
    later upload of it, re-encoded or resized, is refused with `image_blocked`. Audited
    `image_hash.blocked` (source `dp`). Does not change the DP itself (take it down too)."""
    entry, created = db.mutation(
        service.block_dp_photo, actor.user_id, dp_id, body.reason if body else None
    )
    if not created:
        response.status_code = 200
    return BlockedImageOut.of(entry, created)


@api_router.get(
    "/moderation/dps/{dp_id}/image",
    response_class=Response,
    responses={**IMAGE_RESPONSES, **_responses(401, 403, 404)},
)
def moderated_image(
    request: Request,
    db: Db,
    actor: CurrentUser,
    dp_id: DpPath,
    if_none_match: Annotated[str | None, Header(max_length=2000)] = None,
) -> Response:
    """A DP's picture for its moderators, whatever its status. Never cached."""
    stored = db.query(service.moderated_image, actor.user_id, dp_id)
    return image_response(request, stored, "private, no-store", if_none_match)


# --- reports ------------------------------------------------------------------------------


class ReportLimiter:
    """Per address and per signed-in user (`dp.report_limits_per_*`), on the sign-in
    limiter's storage (Redis when several processes serve)."""

    def __init__(self, settings: Settings) -> None:
        auth = settings.auth
        self.limiter = Limiter(auth.rate_limit_storage, f"{auth.rate_limit_namespace}:dp-report")
        self.per_ip: list[RateLimitItem] = parse_many(settings.dp.report_limits_per_ip)
        self.per_user: list[RateLimitItem] = parse_many(settings.dp.report_limits_per_user)

    def hit(self, ip: str, user_id: str | None) -> None:
        waits = [self.limiter.hit(self.per_ip, "ip", ip)]
        if user_id:
            waits.append(self.limiter.hit(self.per_user, "user", user_id))
        found = [w for w in waits if w is not None]
        if found:
            raise RateLimited(max(found), "Too many reports; wait a little before sending more.")


_limiter_lock = threading.Lock()


def report_limiter(request: Request) -> ReportLimiter:
    state = request.app.state
    found: ReportLimiter | None = getattr(state, "dp_report_limiter", None)
    if found is None:
        with _limiter_lock:
            found = getattr(state, "dp_report_limiter", None)
            if found is None:
                found = state.dp_report_limiter = ReportLimiter(app_settings(request))
    return found


@api_router.post(
    "/public/dps/{dp_id}/report",
    response_model=ReportOut,
    status_code=201,
    responses={
        200: {"description": "You had already reported this DP (`created: false`)."},
        404: {"description": "No public DP has this id (`dp_not_found`)."},
        422: {"description": "The reason has a blocked word (`report_reason_blocked`)."},
        429: {"description": "Too many reports from you (`rate_limited`, `Retry-After`)."},
    },
)
def report_dp(
    request: Request,
    response: Response,
    db: Db,
    actor: OptionalUser,
    dp_id: DpPath,
    body: ReportIn,
) -> ReportOut:
    """Reports a public DP (signed in or not): it goes to the review queue, and after
    `dp.reports_to_hide` reports it leaves public view until a moderator decides."""
    settings = app_settings(request)
    user_id = actor.user_id if actor else None
    ip = client_ip(request)
    report_limiter(request).hit(ip, user_id)
    _, created = db.mutation(
        service.report_dp,
        settings.dp,
        settings.moderation,
        dp_id,
        user_id=user_id,
        ip=ip,
        secret=settings.secret,
        reason=body.reason,
    )
    if not created:
        response.status_code = 200
    return ReportOut(created=created)
