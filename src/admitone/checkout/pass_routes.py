"""Routes through which a pass reaches people: ticket PDFs (per pass, per order), the
Apple Wallet `.pkpass`, the Google Wallet save link, the transfer of a pass, badges and an
event's pass settings.

Who may read a pass's documents: its holder, the order's buyer (signed in, or holding the
order token as `?token=` or `X-Order-Token`), or a member with `order.read` on the event.
Anyone else gets 404, so a stranger cannot learn that a pass id exists. The access check
lives in `checkout`, above orders and passes: it asks the orders domain whether a token is
the order's. The pass's QR code (`qr.svg`) is here for the same reason.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, EmailStr, Field
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.errors import ScopeNotFound
from admitone.access.service import Scope, require_capability
from admitone.auth.deps import Actor, CurrentUser, OptionalUser
from admitone.checkout import transfer
from admitone.core.errors import Unauthorized
from admitone.core.http import Db, app_settings
from admitone.core.ids import BadgeRunId, EventId, OrderId, PassId, TicketTierId
from admitone.integrations.storage import storage_for
from admitone.integrations.wallet.apple import PKPASS_TYPE
from admitone.orders import service as orders
from admitone.orders.errors import OrderNotFound
from admitone.orders.models import Order
from admitone.orders.schemas import Name
from admitone.passes import badge_runs, badges, pass_settings, pdf
from admitone.passes import service as passes
from admitone.passes.delivery.models import BadgeRun, BadgeRunStatus
from admitone.passes.errors import PassNotFound
from admitone.passes.models import Pass
from admitone.passes.wallet import issue
from admitone.passes.wallet import service as wallet
from admitone.settings import Settings

api_router = APIRouter(tags=["passes"])
support_router = APIRouter(tags=["passes"])

PassPath = Annotated[PassId, Path(description="A pass id (`pas_...`).")]
OrderPath = Annotated[OrderId, Path(description="An order id (`ord_...`).")]
TokenQuery = Annotated[str | None, Query(max_length=100, description="The order token.")]
TokenHeader = Annotated[
    str | None,
    Header(alias="X-Order-Token", max_length=100, description="The order token."),
]
PDF_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}},
    404: {"description": "No such pass or order (`pass_not_found`, `order_not_found`)."},
}


def _is_buyer(settings: Settings, order: Order, actor: Actor | None, token: str | None) -> bool:
    if actor is not None and order.buyer_user_id == actor.user_id:
        return True
    return orders.token_matches(settings, order.id, token)


def readable_pass(
    session: Session,
    settings: Settings,
    pass_id: str,
    actor: Actor | None,
    token: str | None,
    capability: Capability = Capability.ORDER_READ,
) -> Pass:
    found = passes.get_pass(session, PassId(pass_id))
    if actor is not None and found.holder_user_id == actor.user_id:
        return found
    if _is_buyer(settings, orders.get_order(session, found.order_id), actor, token):
        return found
    if actor is None:
        raise PassNotFound()
    try:
        require_capability(session, actor.user_id, capability, Scope.event(found.event_id))
    except ScopeNotFound as exc:
        raise PassNotFound() from exc
    return found


def readable_order(
    session: Session, settings: Settings, order_id: str, actor: Actor | None, token: str | None
) -> Order:
    order = orders.get_order(session, OrderId(order_id))
    if _is_buyer(settings, order, actor, token):
        return order
    if actor is None:
        raise OrderNotFound()
    try:
        require_capability(
            session, actor.user_id, Capability.ORDER_READ, Scope.event(order.event_id)
        )
    except ScopeNotFound as exc:
        raise OrderNotFound() from exc
    return order


def _pdf(body: bytes, filename: str) -> Response:
    return Response(
        body,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


@dataclass(frozen=True)
class Reader:
    """Who asks for a pass's or an order's documents: the signed-in caller, if any, and the
    order token (`?token=` or `X-Order-Token`), if any; `readable_pass` decides."""

    settings: Settings
    actor: Actor | None
    token: str | None


def _reader(
    request: Request,
    actor: OptionalUser,
    token: TokenQuery = None,
    x_order_token: TokenHeader = None,
) -> Reader:
    return Reader(app_settings(request), actor, token or x_order_token)


DocumentReader = Annotated[Reader, Depends(_reader)]


def pass_tickets(
    session: Session, reader: Reader, pass_id: PassId, *, wallet_link: bool = False
) -> list[pdf.Ticket]:
    """The pass as a ticket, for a reader who may read it (else 404); `wallet_link` also
    records that it was saved to Google Wallet (its changes are sent there from then on)."""
    found = readable_pass(session, reader.settings, pass_id, reader.actor, reader.token)
    if wallet_link:
        wallet.link_google(session, found.id)
    return pdf.tickets_for(session, reader.settings, [found])


def order_tickets(session: Session, reader: Reader, order_id: OrderId) -> list[pdf.Ticket]:
    """Every pass of the order as a ticket, for a reader who may read the order."""
    order = readable_order(session, reader.settings, order_id, reader.actor, reader.token)
    return pdf.tickets_for(session, reader.settings, passes.passes_for_order(session, order.id))


@api_router.get("/passes/{pass_id}/ticket.pdf", response_class=Response, responses=PDF_RESPONSES)
def pass_ticket_pdf(db: Db, reader: DocumentReader, pass_id: PassPath) -> Response:
    """The pass's ticket as a one-page PDF (A5)."""
    tickets = db.query(pass_tickets, reader, pass_id)
    body = pdf.render_tickets(tickets, title="Ticket", settings=reader.settings)
    return _pdf(body, pdf.ticket_filename(tickets[0].code))


@api_router.get("/orders/{order_id}/tickets.pdf", response_class=Response, responses=PDF_RESPONSES)
def order_tickets_pdf(db: Db, reader: DocumentReader, order_id: OrderPath) -> Response:
    """Every pass of the order, one page each (404 `order_not_found` before it has passes)."""
    tickets = db.query(order_tickets, reader, order_id)
    if not tickets:
        raise OrderNotFound()
    return _pdf(pdf.render_tickets(tickets, settings=reader.settings), f"tickets-{order_id}.pdf")


# --- wallet passes ------------------------------------------------------------------------


class GoogleSaveLink(BaseModel):
    save_url: str


@support_router.get(
    "/passes/{pass_id}/wallet.pkpass",
    response_class=Response,
    responses={200: {"content": {PKPASS_TYPE: {}}}, **PDF_RESPONSES},
)
def apple_wallet_pass(db: Db, reader: DocumentReader, pass_id: PassPath) -> Response:
    """The pass as a signed Apple Wallet `.pkpass`."""
    [ticket] = db.query(pass_tickets, reader, pass_id)
    return Response(
        issue.pkpass(reader.settings, ticket),
        media_type=PKPASS_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{ticket.code}.pkpass"',
            "Cache-Control": "private, no-store",
        },
    )


@support_router.get(
    "/passes/{pass_id}/wallet/google", response_model=GoogleSaveLink, responses=PDF_RESPONSES
)
def google_wallet_link(
    db: Db,
    reader: DocumentReader,
    pass_id: PassPath,
    redirect: Annotated[bool, Query(description="303 to the link (for e-mail buttons).")] = False,
) -> Any:
    """The "Save to Google Wallet" link: the pass's EventTicketObject (and its event's
    class) in an RS256 JWT. From then on the pass's changes are sent to Google."""
    [ticket] = db.mutation(pass_tickets, reader, pass_id, wallet_link=True)
    url = issue.google_save_url(reader.settings, ticket)
    if redirect:
        return RedirectResponse(url, status_code=303)
    return GoogleSaveLink(save_url=url)


# --- transfer -----------------------------------------------------------------------------


class TransferIn(BaseModel):
    email: EmailStr
    name: Name  # stripped first, so a blank name is refused (422), not stored as ""


class TransferOut(BaseModel):
    """The new pass, without its code or QR: those are for the new holder only (they get
    them by e-mail)."""

    id: PassId
    transferred_from: PassId
    attendee_name: str | None
    attendee_email: str | None
    status: str


@api_router.post(
    "/passes/{pass_id}/transfer",
    response_model=TransferOut,
    status_code=201,
    responses={
        404: {"description": "`pass_not_found`."},
        409: {"description": "`pass_not_transferable`, `pass_checked_in`, `transfers_closed`."},
        422: {"description": "`transfer_to_same_holder`, validation."},
    },
)
def transfer_pass(
    request: Request, db: Db, actor: CurrentUser, pass_id: PassPath, body: TransferIn
) -> TransferOut:
    """Gives the pass to another person: the old QR stops admitting at once, the new
    holder gets the pass by e-mail (see docs/passes.md, Transfer)."""
    done = db.mutation(
        transfer.transfer_pass,
        settings=app_settings(request),
        actor_user_id=actor.user_id,
        pass_id=pass_id,
        email=str(body.email),
        name=body.name,
    )
    return TransferOut(
        id=done.new.id,
        transferred_from=done.old.id,
        attendee_name=done.new.attendee_name,
        attendee_email=done.new.attendee_email,
        status=done.new.status,
    )


# --- badges and pass settings ---------------------------------------------------------------

EventPath = Annotated[EventId, Path(description="An event id (`evt_...`).")]
RunPath = Annotated[BadgeRunId, Path(description="A badge run id (`bdr_...`).")]
TierPath = Annotated[TicketTierId, Path(description="A ticket tier id (`tir_...`).")]
_SCOPE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "`capability_required`."},
    404: {"description": "No such event, pass or run."},
}


class BadgeRunIn(BaseModel):
    tier_ids: list[TicketTierId] | None = Field(default=None, max_length=100)
    layout: dict[str, Any] | None = Field(
        default=None, description="Overrides the event's badge layout for this run."
    )


class BadgeRunOut(BaseModel):
    id: BadgeRunId
    event_id: EventId
    status: BadgeRunStatus
    total: int
    done: int
    download_url: str | None
    error: str | None


class PassSettingsIn(BaseModel):
    transfers_enabled: bool = True
    transfer_cutoff_minutes: int = Field(default=0, ge=0, le=525600)
    badge_layout: dict[str, Any] | None = None


class PassSettingsOut(BaseModel):
    transfers_enabled: bool
    transfer_cutoff_minutes: int
    badge_layout: dict[str, Any] | None
    tier_transfer_cutoffs: dict[str, int] = Field(
        description="Tiers with a cut-off of their own (tier id: minutes), overriding the "
        "event's `transfer_cutoff_minutes` for their passes."
    )


class TierCutoffIn(BaseModel):
    transfer_cutoff_minutes: int | None = Field(
        ge=0, le=525600, description="Minutes before the start; null: the event's cut-off."
    )


def _run_out(settings: Settings, run: BadgeRun) -> BadgeRunOut:
    url = None
    if run.status == BadgeRunStatus.DONE and run.file_key:
        url = f"{settings.base_url.rstrip('/')}/support/v1/badge-runs/{run.id}/badges.pdf"
    return BadgeRunOut(
        id=run.id,
        event_id=run.event_id,
        status=BadgeRunStatus(run.status),
        total=run.total,
        done=run.done,
        download_url=url,
        error=run.error,
    )


@support_router.get(
    "/passes/{pass_id}/badge.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **_SCOPE_ERRORS},
)
def pass_badge_pdf(db: Db, actor: CurrentUser, pass_id: PassPath, request: Request) -> Response:
    """The pass's A6 badge; every call is recorded as a print (never a check-in)."""
    settings = app_settings(request)
    todo = db.mutation(badge_runs.print_badge, settings, actor.user_id, pass_id)
    body = badges.badge_pdf(todo.ticket, todo.layout, settings)
    return _pdf(body, f"badge-{todo.ticket.code}.pdf")


@support_router.post(
    "/events/{event_id}/badges",
    response_model=BadgeRunOut,
    status_code=202,
    responses={422: {"description": "`unknown_tier`, `invalid_badge_layout`."}, **_SCOPE_ERRORS},
)
def start_badge_run(
    request: Request, db: Db, actor: CurrentUser, event_id: EventPath, body: BadgeRunIn
) -> BadgeRunOut:
    """Prints the event's badges (valid passes, optionally of some tiers) as A4 sheets of 8
    in a job; poll the run until it has a `download_url`."""
    run = db.mutation(
        badge_runs.start_badge_run,
        actor_user_id=actor.user_id,
        event_id=event_id,
        tier_ids=[str(t) for t in body.tier_ids] if body.tier_ids else None,
        layout=body.layout,
    )
    return _run_out(app_settings(request), run)


@support_router.get("/badge-runs/{run_id}", response_model=BadgeRunOut, responses=_SCOPE_ERRORS)
def get_badge_run(request: Request, db: Db, actor: CurrentUser, run_id: RunPath) -> BadgeRunOut:
    run = db.query(badge_runs.get_badge_run, actor.user_id, run_id)
    return _run_out(app_settings(request), run)


@support_router.get(
    "/badge-runs/{run_id}/badges.pdf",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/pdf": {}}}, **_SCOPE_ERRORS},
)
def badge_run_pdf(
    request: Request, db: Db, actor: CurrentUser, run_id: RunPath
) -> StreamingResponse:
    run = db.query(badge_runs.get_badge_run, actor.user_id, run_id)
    if run.status != BadgeRunStatus.DONE or not run.file_key:
        raise badge_runs.BadgeRunNotFound("The run has no file yet.")
    chunks = storage_for(app_settings(request)).stream(run.file_key)
    return StreamingResponse(
        chunks,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="badges-{run.id}.pdf"'},
    )


@support_router.get(
    "/events/{event_id}/pass-settings", response_model=PassSettingsOut, responses=_SCOPE_ERRORS
)
def get_pass_settings(db: Db, actor: CurrentUser, event_id: EventPath) -> PassSettingsOut:
    return PassSettingsOut(**db.query(pass_settings.get_pass_settings, actor.user_id, event_id))


@support_router.put(
    "/events/{event_id}/pass-settings", response_model=PassSettingsOut, responses=_SCOPE_ERRORS
)
def set_pass_settings(
    db: Db, actor: CurrentUser, event_id: EventPath, body: PassSettingsIn
) -> PassSettingsOut:
    """Transfers (on/off, closing this many minutes before the start) and the badge layout."""
    return PassSettingsOut(
        **db.mutation(
            pass_settings.set_pass_settings,
            actor.user_id,
            event_id,
            transfers_enabled=body.transfers_enabled,
            transfer_cutoff_minutes=body.transfer_cutoff_minutes,
            badge_layout=body.badge_layout,
        )
    )


@support_router.put(
    "/events/{event_id}/tiers/{tier_id}/transfer-cutoff",
    response_model=PassSettingsOut,
    responses={**_SCOPE_ERRORS, 404: {"description": "No such event or tier (`tier_not_found`)."}},
)
def set_tier_transfer_cutoff(
    db: Db, actor: CurrentUser, event_id: EventPath, tier_id: TierPath, body: TierCutoffIn
) -> PassSettingsOut:
    """The tier's own transfer cut-off (`event.update`), overriding the event's for its
    passes; null goes back to the event's. Answers the event's pass settings."""
    return PassSettingsOut(
        **db.mutation(
            pass_settings.set_tier_cutoff,
            actor.user_id,
            event_id,
            tier_id,
            body.transfer_cutoff_minutes,
        )
    )


@api_router.get(
    "/passes/{pass_id}/qr.svg",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}},
        404: {"description": "No such pass (`pass_not_found`)."},
    },
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
            return passes.visible_pass(session, actor.user_id, pass_id)
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
