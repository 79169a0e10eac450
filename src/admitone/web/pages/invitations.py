"""`/invitations/{token}`: the invitation e-mail's link. Shows who invites you to what with
which role; accepting (signed in as the invited address) is the API's accept route."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from admitone.core.errors import AppError
from admitone.core.http import Db
from admitone.orgs import invitations
from admitone.orgs import routes as org_routes
from admitone.users.models import User
from admitone.web.render import redirect, render_page
from admitone.web.session import browser_actor, check_csrf

router = APIRouter(include_in_schema=False)

Token = Annotated[str, Path(min_length=10, max_length=100)]


def _page(
    request: Request, db: Db, token: str, *, error: str | None = None, done: bool = False
) -> HTMLResponse:
    actor = browser_actor(request)
    invitation = db.query(invitations.describe_invitation, token)
    me = db.query(lambda s: s.get(User, actor.user_id)) if actor else None
    return render_page(
        request,
        "invitation.html",
        status_code=400 if error else 200,
        token=token,
        invitation=invitation,
        me=me,
        error=error,
        done=done,
        headers={"Referrer-Policy": "no-referrer"},
    )


@router.get("/invitations/{token}", response_class=HTMLResponse)
def invitation_page(request: Request, db: Db, token: Token) -> HTMLResponse:
    return _page(request, db, token)


@router.post("/invitations/{token}", response_model=None)
def accept(
    request: Request,
    db: Db,
    token: Token,
    csrf_token: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    check_csrf(request, csrf_token)
    actor = browser_actor(request)
    if actor is None:
        return redirect(request, f"/sign-in?next=/invitations/{token}")
    try:
        # The API's accept (the invitations service and its audit entry), as is.
        org_routes.accept_invitation(db, actor, token)
    except AppError as exc:
        return _page(request, db, token, error=exc.detail)
    return _page(request, db, token, done=True)
