"""`/manage/moderation`: the DP review queue for people (platform moderators, and an
organization's owners and admins with `?organization_id=`): each waiting DP's picture,
reasons and reports, with approve / reject / take down. Each action is the service the API
route calls (`dp.service.moderate_dp`), with the same capability checks."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from admitone.core.errors import AppError
from admitone.core.http import Db
from admitone.core.ids import GeneratedDpId, OrganizationId
from admitone.dp import service as dp
from admitone.dp.views import image_response
from admitone.web.render import redirect, render_page
from admitone.web.session import browser_actor, check_csrf

router = APIRouter(include_in_schema=False)

DpPath = Annotated[GeneratedDpId, Path()]
OrgQuery = Annotated[OrganizationId | None, Query()]
NOTICES = {
    "approve": "Approved: the DP is public again.",
    "reject": "Rejected: only its owner sees it now.",
    "takedown": "Taken down: it is gone from every public place.",
}


def _here(organization_id: str | None, **extra: str) -> str:
    query = {"organization_id": organization_id} if organization_id else {}
    query.update(extra)
    return "/manage/moderation" + (f"?{urlencode(query)}" if query else "")


@router.get("/manage/moderation", response_class=HTMLResponse, response_model=None)
def queue(
    request: Request,
    db: Db,
    organization_id: OrgQuery = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    notice: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    actor = browser_actor(request)
    if actor is None:
        return redirect(request, "/sign-in?next=/manage/moderation")
    try:
        items, next_cursor = db.query(
            dp.review_queue, actor.user_id, organization_id=organization_id, limit=25, cursor=cursor
        )
    except AppError as exc:
        return render_page(
            request, "manage_moderation.html", status_code=exc.status, refused=exc.detail,
            items=[], next_url=None, organization_id=organization_id, notice=None,
        )  # fmt: skip
    return render_page(
        request,
        "manage_moderation.html",
        refused=None,
        items=items,
        next_url=_here(organization_id, cursor=next_cursor) if next_cursor else None,
        organization_id=organization_id,
        notice=NOTICES.get(notice or ""),
    )


@router.get("/manage/moderation/dps/{dp_id}/image", response_model=None)
def dp_image(request: Request, db: Db, dp_id: DpPath) -> Response:
    actor = browser_actor(request)
    if actor is None:
        return Response(status_code=401)
    stored = db.query(dp.moderated_image, actor.user_id, dp_id)
    return image_response(request, stored, "private, no-store", None)


@router.post("/manage/moderation/dps/{dp_id}/decide", response_model=None)
def decide(
    request: Request,
    db: Db,
    dp_id: DpPath,
    action: Annotated[dp.Action, Form()],
    csrf_token: Annotated[str | None, Form(max_length=200)] = None,
    reason: Annotated[str | None, Form(max_length=500)] = None,
    organization_id: Annotated[OrganizationId | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    actor = browser_actor(request)
    if actor is None:
        return redirect(request, "/sign-in?next=/manage/moderation")
    db.mutation(dp.moderate_dp, actor.user_id, dp_id, action, (reason or "").strip() or None)
    return redirect(request, _here(organization_id, notice=action.value))
