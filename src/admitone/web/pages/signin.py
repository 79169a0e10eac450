"""`/sign-in`: e-mail, then the code (OTP), or a magic link that lands on `/sign-in/link`;
`/sign-out`. The same auth services and rate limits as `/api/v1/auth/...`; the browser
session is the auth session those services start (web/session.py)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from admitone.auth import service as auth
from admitone.auth.deps import Actor, session_gate
from admitone.auth.ratelimit import limiter
from admitone.auth.schemas import OtpStart, OtpVerify
from admitone.core.errors import AppError, RateLimited
from admitone.core.http import Db, app_settings, client_ip
from admitone.settings import Settings
from admitone.users import service as users
from admitone.web.render import redirect, render_page
from admitone.web.session import (
    browser_actor,
    check_csrf,
    clear_session_cookie,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)

Csrf = Annotated[str | None, Form(max_length=200)]
Next = Annotated[str, Form(max_length=500)]


def safe_next(value: str | None) -> str:
    """Only a path of this site: anything else (another origin, `//host`) goes home."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _email(raw: str) -> str | None:
    """The address as the API stores it (its schema's normalisation), or None."""
    try:
        return OtpStart(email=raw).email
    except ValidationError:
        return None


def _code(email: str, raw: str) -> str | None:
    try:
        return OtpVerify(email=email, code=raw).code
    except ValidationError:
        return None


def _start_session(
    session: Session, settings: Settings, check: auth.CodeCheck, method: str, ip: str, ua: str
) -> Actor | AppError:
    # The same composition as the API's sign-in routes: link the e-mail identity, start a
    # session (its refresh token is unused: the browser holds the cookie instead).
    if check.error is not None:
        return check.error  # committed: the attempt counts
    assert check.email is not None
    user_id = users.link_identity(
        session, provider="email", subject=check.email, email=check.email, email_verified=True
    )
    tokens = auth.start_session(session, settings, user_id, method=method, ip=ip, user_agent=ua)
    return Actor(tokens.user_id, tokens.session_id)


def _signed_in(request: Request, actor: Actor, next_url: str) -> Response:
    response = redirect(request, safe_next(next_url))
    set_session_cookie(response, app_settings(request), actor)
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(
    request: Request, next: Annotated[str | None, Query(max_length=500)] = None
) -> HTMLResponse:
    actor = browser_actor(request)
    settings = app_settings(request)
    return render_page(
        request,
        "sign_in.html",
        step="email",
        email="",
        next=safe_next(next),
        error=None,
        signed_in=actor is not None,
        google=bool(settings.auth.google_client_ids),
        apple=bool(settings.auth.apple_client_ids),
    )


def _form_error(request: Request, step: str, email: str, next_url: str, error: str) -> HTMLResponse:
    return render_page(
        request,
        "sign_in.html",
        status_code=400,
        step=step,
        email=email,
        next=safe_next(next_url),
        error=error,
        signed_in=False,
        google=False,
        apple=False,
    )


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in_start(
    request: Request,
    db: Db,
    email: Annotated[str, Form(max_length=320)],
    csrf_token: Csrf = None,
    method: Annotated[str, Form(max_length=20)] = "otp",
    next: Next = "/",
) -> HTMLResponse:
    check_csrf(request, csrf_token)
    settings = app_settings(request)
    address = _email(email)
    if address is None:
        return _form_error(request, "email", email, next, "That does not look like an e-mail.")
    try:
        limiter(request).hit("send", email=address, ip=client_ip(request))
    except RateLimited as exc:
        return _form_error(request, "email", address, next, exc.detail)
    if method == "magic_link":
        target = auth.check_redirect(settings, None)
        if safe_next(next) != "/":
            target += "?next=" + quote(safe_next(next), safe="")
        db.mutation(
            auth.start_email_sign_in,
            settings,
            kind="magic_link",
            email=address,
            redirect_url=target,
        )
        step = "link_sent"
    else:
        db.mutation(auth.start_email_sign_in, settings, kind="otp", email=address)
        step = "code"
    return render_page(
        request,
        "sign_in.html",
        step=step,
        email=address,
        next=safe_next(next),
        error=None,
        signed_in=False,
        google=False,
        apple=False,
    )


@router.post("/sign-in/code", response_model=None)
def sign_in_code(
    request: Request,
    db: Db,
    email: Annotated[str, Form(max_length=320)],
    code: Annotated[str, Form(max_length=20)],
    csrf_token: Csrf = None,
    next: Next = "/",
) -> Response:
    check_csrf(request, csrf_token)
    settings = app_settings(request)
    ip = client_ip(request)
    address = _email(email)
    if address is None:
        return _form_error(request, "email", email, next, "That does not look like an e-mail.")
    try:
        limiter(request).hit("verify", email=address, ip=ip)
    except RateLimited as exc:
        return _form_error(request, "code", address, next, exc.detail)
    digits = _code(address, code)
    if digits is None:
        return _form_error(request, "code", address, next, "The code is the 6 digits we sent.")
    ua = request.headers.get("user-agent", "")

    def _verify(session: Session) -> Actor | AppError:
        check = auth.check_otp(session, settings, address, digits)
        return _start_session(session, settings, check, "otp", ip, ua)

    result = db.mutation(_verify)
    if isinstance(result, AppError):
        return _form_error(request, "code", address, next, result.detail)
    return _signed_in(request, result, next)


@router.get("/sign-in/link", response_class=HTMLResponse)
def sign_in_link_page(
    request: Request,
    token: Annotated[str, Query(max_length=200)] = "",
    next: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    # A GET never consumes the token (mail scanners fetch links): the page posts it.
    return render_page(
        request,
        "sign_in_link.html",
        token=token,
        next=safe_next(next),
        headers={"Referrer-Policy": "no-referrer"},
    )


@router.post("/sign-in/link", response_model=None)
def sign_in_link(
    request: Request,
    db: Db,
    token: Annotated[str, Form(max_length=200)],
    csrf_token: Csrf = None,
    next: Next = "/",
) -> Response:
    check_csrf(request, csrf_token)
    settings = app_settings(request)
    ip = client_ip(request)
    try:
        limiter(request).hit("verify", email=None, ip=ip)
    except RateLimited as exc:
        return _form_error(request, "email", "", next, exc.detail)
    ua = request.headers.get("user-agent", "")

    def _verify(session: Session) -> Actor | AppError:
        check = auth.check_magic_link(session, settings, token)
        return _start_session(session, settings, check, "magic_link", ip, ua)

    result = db.mutation(_verify)
    if isinstance(result, AppError):
        return _form_error(
            request, "email", "", next, result.detail + " Ask for a new link or a code below."
        )
    return _signed_in(request, result, next)


@router.post("/sign-out", response_model=None)
def sign_out(request: Request, db: Db, csrf_token: Csrf = None) -> Response:
    check_csrf(request, csrf_token)
    actor = browser_actor(request)
    if actor is not None:
        db.mutation(auth.sign_out, actor.session_id)
        session_gate(request.app).forget(actor.session_id)
    response = redirect(request, "/")
    clear_session_cookie(response, app_settings(request))
    return response
