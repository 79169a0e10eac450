"""Sign-in routes: starting an e-mail OTP or magic-link sign-in, Apple's notifications,
sign-out; the public keys at /.well-known/jwks.json. The routes that answer with the
signed-in account (verifying a code or link, Google, Apple, refresh) are `users`'
(`users/sign_in_routes.py`): a first sign-in creates the account, and users sits above."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from admitone.auth import oidc
from admitone.auth import service as auth
from admitone.auth.deps import CurrentUser, session_gate
from admitone.auth.ratelimit import limiter
from admitone.auth.schemas import Accepted, AppleNotification, MagicLinkStart, OtpStart
from admitone.auth.tokens import jwks
from admitone.core.http import Db, app_settings, client_ip

api_router = APIRouter(prefix="/auth", tags=["auth"])
ops_router = APIRouter(tags=["auth"])

_ACCEPTED = "If the address can receive e-mail, a message is on its way."


_START_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"description": "Malformed e-mail or redirect not allowed"},
    429: {"description": "Too many requests (Retry-After)"},
}


@api_router.post("/otp/start", status_code=202, responses=_START_RESPONSES)
def otp_start(body: OtpStart, request: Request, db: Db) -> Accepted:
    """E-mails a 6-digit code (10 minutes, 5 tries); a new code voids the previous one.
    Answers 202 whether or not an account exists."""
    settings = app_settings(request)
    limiter(request).hit("send", email=body.email, ip=client_ip(request))
    db.mutation(auth.start_email_sign_in, settings, kind="otp", email=body.email)
    return Accepted(detail=_ACCEPTED)


@api_router.post("/magic-link/start", status_code=202, responses=_START_RESPONSES)
def magic_link_start(body: MagicLinkStart, request: Request, db: Db) -> Accepted:
    """E-mails a single-use sign-in link (15 minutes) to an allow-listed `redirect_url`
    with `?token=`; the page there posts the token to /magic-link/verify."""
    settings = app_settings(request)
    redirect = auth.check_redirect(settings, body.redirect_url)
    limiter(request).hit("send", email=body.email, ip=client_ip(request))
    db.mutation(
        auth.start_email_sign_in,
        settings,
        kind="magic_link",
        email=body.email,
        redirect_url=redirect,
    )
    return Accepted(detail=_ACCEPTED)


@api_router.post(
    "/apple/notifications",
    responses={
        401: {"description": "invalid_notification"},
        503: {"description": "`provider_not_configured`, or Apple's keys are unreachable"},
    },
)
def apple_notifications(body: AppleNotification, request: Request, db: Db) -> dict[str, str]:
    """Apple's server-to-server account notifications (consent revoked, account deleted):
    the Apple link is disabled and its sessions end. Unknown types are acknowledged."""
    event = oidc.verify_apple_notification(app_settings(request), body.payload)
    revoked = db.mutation(auth.apply_apple_event, event.subject, event.type)
    session_gate(request.app).forget(*revoked)
    return {"status": "ok"}


@api_router.post("/sign-out", status_code=204)
def sign_out(actor: CurrentUser, request: Request, db: Db) -> Response:
    """Ends this session: its refresh tokens stop working and its access tokens too."""
    db.mutation(auth.sign_out, actor.session_id)
    session_gate(request.app).forget(actor.session_id)
    return Response(status_code=204)


@api_router.post("/sign-out-all", status_code=204)
def sign_out_all(actor: CurrentUser, request: Request, db: Db) -> Response:
    """Ends every session of the caller, on every device."""
    revoked = db.mutation(auth.sign_out_everywhere, actor.user_id)
    session_gate(request.app).forget(*revoked)
    return Response(status_code=204)


@ops_router.get("/.well-known/jwks.json")
def well_known_jwks(request: Request, response: Response) -> dict[str, Any]:
    """The public keys that verify access tokens (every configured key: rotation)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return jwks(app_settings(request))
