"""Sign-in routes: e-mail OTP, magic links, Google, Apple (and Apple's notifications),
refresh, sign-out; the public keys at /.well-known/jwks.json."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from admitone.auth import oidc
from admitone.auth import service as auth
from admitone.auth.deps import CurrentUser, session_gate
from admitone.auth.ratelimit import limiter
from admitone.auth.schemas import (
    Accepted,
    AppleNotification,
    AppleSignIn,
    GoogleSignIn,
    MagicLinkStart,
    MagicLinkVerify,
    OtpStart,
    OtpVerify,
    RefreshRequest,
    SignedInUser,
    TokenResponse,
)
from admitone.auth.tokens import jwks
from admitone.core.errors import AppError
from admitone.core.http import Db, app_settings, client_ip
from admitone.settings import Settings
from admitone.users import service as users
from admitone.users.models import User

api_router = APIRouter(prefix="/auth", tags=["auth"])
ops_router = APIRouter(tags=["auth"])

_ACCEPTED = "If the address can receive e-mail, a message is on its way."


def _user_agent(request: Request) -> str | None:
    return request.headers.get("user-agent")


def _response(
    session: Session, tokens: auth.Tokens, redirect_url: str | None = None
) -> TokenResponse:
    user = session.get(User, tokens.user_id)
    assert user is not None
    return TokenResponse(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        user=SignedInUser(
            id=user.id,
            email=user.email,
            name=user.name,
            email_verified=user.email_verified_at is not None,
        ),
        redirect_url=redirect_url,
    )


def _sign_in_with_code(
    session: Session,
    settings: Settings,
    check: auth.CodeCheck,
    method: str,
    ip: str,
    user_agent: str | None,
) -> TokenResponse | AppError:
    if check.error is not None:
        return check.error  # committed: the attempt counts
    assert check.email is not None
    user_id = users.link_identity(
        session, provider="email", subject=check.email, email=check.email, email_verified=True
    )
    tokens = auth.start_session(
        session, settings, user_id, method=method, ip=ip, user_agent=user_agent
    )
    return _response(session, tokens, check.redirect_url)


def _raise_or_return(result: TokenResponse | AppError) -> TokenResponse:
    if isinstance(result, AppError):
        raise result
    return result


_START_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"description": "Malformed e-mail or redirect not allowed"},
    429: {"description": "Too many requests (Retry-After)"},
}
_VERIFY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid_code, code_expired, too_many_attempts"},
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


@api_router.post("/otp/verify", responses=_VERIFY_RESPONSES)
def otp_verify(body: OtpVerify, request: Request, db: Db) -> TokenResponse:
    settings = app_settings(request)
    ip = client_ip(request)
    limiter(request).hit("verify", email=body.email, ip=ip)

    def _verify(session: Session) -> TokenResponse | AppError:
        check = auth.check_otp(session, settings, body.email, body.code)
        return _sign_in_with_code(session, settings, check, "otp", ip, _user_agent(request))

    return _raise_or_return(db.mutation(_verify))


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
    "/magic-link/verify",
    responses={400: {"description": "invalid_magic_link, magic_link_expired"}},
)
def magic_link_verify(body: MagicLinkVerify, request: Request, db: Db) -> TokenResponse:
    settings = app_settings(request)
    ip = client_ip(request)
    limiter(request).hit("verify", email=None, ip=ip)

    def _verify(session: Session) -> TokenResponse | AppError:
        check = auth.check_magic_link(session, settings, body.token)
        return _sign_in_with_code(session, settings, check, "magic_link", ip, _user_agent(request))

    return _raise_or_return(db.mutation(_verify))


def _sign_in_with_identity(
    session: Session,
    settings: Settings,
    identity: oidc.Identity,
    name: str | None,
    ip: str,
    user_agent: str | None,
) -> TokenResponse:
    user_id = users.link_identity(
        session,
        provider=identity.provider,
        subject=identity.subject,
        email=identity.email,
        email_verified=identity.email_verified,
        is_private_email=identity.is_private_email,
        name=name,
    )
    tokens = auth.start_session(
        session, settings, user_id, method=identity.provider, ip=ip, user_agent=user_agent
    )
    return _response(session, tokens)


_ID_TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "invalid_id_token (with a `reason`)"},
    403: {"description": "`email_not_verified`, or `google_domain_not_allowed` (Google only)."},
    503: {"description": "provider_not_configured"},
}


@api_router.post("/google", responses=_ID_TOKEN_RESPONSES)
def google(body: GoogleSignIn, request: Request, db: Db) -> TokenResponse:
    settings = app_settings(request)
    # Verified before the transaction: fetching Google's keys is network.
    identity = oidc.verify_google(settings, body.id_token, body.nonce)
    return db.mutation(
        _sign_in_with_identity,
        settings,
        identity,
        None,
        client_ip(request),
        _user_agent(request),
    )


@api_router.post("/apple", responses=_ID_TOKEN_RESPONSES)
def apple(body: AppleSignIn, request: Request, db: Db) -> TokenResponse:
    settings = app_settings(request)
    identity = oidc.verify_apple(settings, body.id_token, body.nonce)
    return db.mutation(
        _sign_in_with_identity,
        settings,
        identity,
        body.name or None,
        client_ip(request),
        _user_agent(request),
    )


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


@api_router.post(
    "/refresh",
    responses={401: {"description": "invalid_refresh_token, refresh_token_reused"}},
)
def refresh(body: RefreshRequest, request: Request, db: Db) -> TokenResponse:
    """Rotates: the refresh token works once. Presenting a used one ends the session."""
    settings = app_settings(request)

    def _refresh(session: Session) -> tuple[TokenResponse | None, auth.RefreshOutcome]:
        outcome = auth.rotate_refresh_token(
            session, settings, body.refresh_token, (client_ip(request), _user_agent(request) or "")
        )
        if outcome.tokens is None:
            return None, outcome  # committed: a reuse revokes the session
        return _response(session, outcome.tokens), outcome

    response, outcome = db.mutation(_refresh)
    if outcome.revoked_session_id:
        session_gate(request.app).forget(outcome.revoked_session_id)
    if response is None:
        assert outcome.error is not None
        raise outcome.error
    return response


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
