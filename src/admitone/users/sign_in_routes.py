"""Sign-in routes that answer with the signed-in account: e-mail code and magic-link
verification, Google, Apple, refresh. They are `users`' (listed in `users/routes.py`):
a first sign-in creates the account, and `auth` sits below `users`. Starting a sign-in,
Apple's notifications and signing out stay in `auth/routes.py`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from admitone.auth import oidc
from admitone.auth.deps import session_gate
from admitone.auth.ratelimit import limiter
from admitone.auth.schemas import (
    AppleSignIn,
    GoogleSignIn,
    MagicLinkVerify,
    OtpVerify,
    RefreshRequest,
    TokenResponse,
)
from admitone.core.errors import AppError
from admitone.core.http import Db, app_settings, client_ip
from admitone.users import sign_in

router = APIRouter(prefix="/auth", tags=["auth"])


def _client(request: Request) -> tuple[str, str | None]:
    return client_ip(request), request.headers.get("user-agent")


def _raise_or_return(result: TokenResponse | AppError) -> TokenResponse:
    if isinstance(result, AppError):
        raise result
    return result


_VERIFY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid_code, code_expired, too_many_attempts"},
    429: {"description": "Too many requests (Retry-After)"},
}


@router.post("/otp/verify", responses=_VERIFY_RESPONSES)
def otp_verify(body: OtpVerify, request: Request, db: Db) -> TokenResponse:
    client = _client(request)
    limiter(request).hit("verify", email=body.email, ip=client[0])
    settings = app_settings(request)
    return _raise_or_return(
        db.mutation(sign_in.verify_otp, settings, body.email, body.code, client)
    )


@router.post(
    "/magic-link/verify",
    responses={400: {"description": "invalid_magic_link, magic_link_expired"}},
)
def magic_link_verify(body: MagicLinkVerify, request: Request, db: Db) -> TokenResponse:
    client = _client(request)
    limiter(request).hit("verify", email=None, ip=client[0])
    settings = app_settings(request)
    return _raise_or_return(db.mutation(sign_in.verify_magic_link, settings, body.token, client))


_ID_TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "invalid_id_token (with a `reason`)"},
    403: {"description": "`email_not_verified`, or `google_domain_not_allowed` (Google only)."},
    503: {"description": "provider_not_configured"},
}


@router.post("/google", responses=_ID_TOKEN_RESPONSES)
def google(body: GoogleSignIn, request: Request, db: Db) -> TokenResponse:
    settings = app_settings(request)
    # Verified before the transaction: fetching Google's keys is network.
    identity = oidc.verify_google(settings, body.id_token, body.nonce)
    return db.mutation(sign_in.sign_in_with_identity, settings, identity, None, _client(request))


@router.post("/apple", responses=_ID_TOKEN_RESPONSES)
def apple(body: AppleSignIn, request: Request, db: Db) -> TokenResponse:
    settings = app_settings(request)
    identity = oidc.verify_apple(settings, body.id_token, body.nonce)
    return db.mutation(
        sign_in.sign_in_with_identity, settings, identity, body.name or None, _client(request)
    )


@router.post(
    "/refresh",
    responses={401: {"description": "invalid_refresh_token, refresh_token_reused"}},
)
def refresh(body: RefreshRequest, request: Request, db: Db) -> TokenResponse:
    """Rotates: the refresh token works once. Presenting a used one ends the session."""
    ip, user_agent = _client(request)
    response, outcome = db.mutation(
        sign_in.refresh, app_settings(request), body.refresh_token, (ip, user_agent or "")
    )
    if outcome.revoked_session_id:
        session_gate(request.app).forget(outcome.revoked_session_id)
    if response is None:
        assert outcome.error is not None
        raise outcome.error
    return response
