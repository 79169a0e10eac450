"""Pass routes: a pass, its QR code as SVG, and the caller's passes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from admitone.auth.deps import CurrentUser
from admitone.core.http import Db, Page, Paging
from admitone.core.ids import PassId
from admitone.passes import service as passes
from admitone.passes.models import Pass
from admitone.passes.schemas import PassOut
from admitone.settings import Settings

api_router = APIRouter(tags=["passes"])

PassPath = Annotated[PassId, Path(description="A pass id (`pas_...`).")]
_errors: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such pass (`pass_not_found`)."}
}


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
    found = db.query(passes.visible_pass, actor.user_id, pass_id)
    return _out(request.app.state.settings, found)


@api_router.get("/me/passes", response_model=Page[PassOut])
def my_passes(request: Request, db: Db, actor: CurrentUser, paging: Paging) -> Page[PassOut]:
    rows, next_cursor = db.query(
        passes.passes_of_holder, actor.user_id, limit=paging.limit, cursor=paging.cursor
    )
    settings = request.app.state.settings
    return Page[PassOut](items=[_out(settings, p) for p in rows], next_cursor=next_cursor)


# Apple's pass web service (device registrations, latest pass, log) has a module of its own;
# the pass documents an order's token opens (QR, PDFs, wallet files) are `checkout`'s
# routes, since the token is the orders domain's.
from admitone.passes.wallet import routes as _wallet  # noqa: E402

support_router = _wallet.support_router
