"""Pass routes: a pass, its QR code as SVG, and the caller's passes."""

from __future__ import annotations

import io
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.errors import ScopeNotFound
from admitone.access.service import Scope, require_capability
from admitone.auth.deps import Actor, CurrentUser, OptionalUser
from admitone.core.errors import Unauthorized
from admitone.core.http import Db, Page, Paging
from admitone.core.ids import PassId
from admitone.orders import service as orders
from admitone.passes import service as passes
from admitone.passes.errors import PassNotFound
from admitone.passes.models import Pass
from admitone.passes.schemas import PassOut
from admitone.settings import Settings

api_router = APIRouter(tags=["passes"])

PassPath = Annotated[PassId, Path(description="A pass id (`pas_...`).")]
_errors: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such pass (`pass_not_found`)."}
}


def _visible_pass(session: Session, actor: Actor, pass_id: PassId) -> Pass:
    """The pass when the caller holds it or may read its event; 404 otherwise, so that a
    stranger cannot learn that a pass id exists."""
    found = passes.get_pass(session, pass_id)
    if found.holder_user_id == actor.user_id:
        return found
    try:
        require_capability(
            session, actor.user_id, Capability.EVENT_READ, Scope.event(found.event_id)
        )
    except ScopeNotFound as exc:
        raise PassNotFound() from exc
    return found


def _out(settings: Settings, p: Pass) -> PassOut:
    return PassOut(
        **passes.pass_view(settings, p),
        event_id=p.event_id,
        order_id=p.order_id,
        attendee_email=p.attendee_email,
        created_at=p.created_at,
        revoked_at=p.revoked_at,
    )


@api_router.get("/passes/{pass_id}", response_model=PassOut, responses=_errors)
def get_pass(request: Request, db: Db, actor: CurrentUser, pass_id: PassPath) -> PassOut:
    found = db.query(_visible_pass, actor, pass_id)
    return _out(request.app.state.settings, found)


@api_router.get(
    "/passes/{pass_id}/qr.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **_errors},
)
def get_pass_qr(
    request: Request,
    db: Db,
    actor: OptionalUser,
    pass_id: PassPath,
    token: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The pass's QR code. Signed in: as `GET /passes/{id}`; or with `?token=` the order
    token of the pass's order (what an anonymous buyer's order page holds)."""
    settings = request.app.state.settings

    if actor is None and token is None:
        raise Unauthorized()

    def _read(session: Session) -> Pass:
        if actor is not None:
            return _visible_pass(session, actor, pass_id)
        found = passes.get_pass(session, pass_id)
        if not orders.token_matches(settings, found.order_id, token):
            raise PassNotFound()
        return found

    found = db.query(_read)
    payload = passes.pass_qr(request.app.state.settings, found)
    # Medium error correction survives a scuffed phone screen; the payload is byte mode.
    qr = segno.make_qr(payload, error="m")
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=4, border=4, xmldecl=True, svgns=True, title="Pass QR code")
    return Response(
        out.getvalue(),
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, max-age=300"},
    )


@api_router.get("/me/passes", response_model=Page[PassOut])
def my_passes(request: Request, db: Db, actor: CurrentUser, paging: Paging) -> Page[PassOut]:
    rows, next_cursor = db.query(
        passes.passes_of_holder, actor.user_id, limit=paging.limit, cursor=paging.cursor
    )
    settings = request.app.state.settings
    return Page[PassOut](items=[_out(settings, p) for p in rows], next_cursor=next_cursor)


# Ticket PDFs, wallet passes, badges and transfers have routes of their own module.
from admitone.passes.delivery import routes as _delivery  # noqa: E402
from admitone.passes.wallet import routes as _wallet  # noqa: E402

api_router.routes.extend(_delivery.api_router.routes)
support_router = _delivery.support_router
support_router.routes.extend(_wallet.support_router.routes)
