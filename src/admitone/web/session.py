"""Browser sessions and CSRF tokens for the pages.

A browser session is the same `auth_sessions` row an API client's tokens name: signing in
on a page calls `auth.service.start_session` exactly as the API does, and the cookie carries
that session's id and user id with an HMAC under the server secret (no token in the URL, no
state in the cookie that the server does not check). Every request with the cookie checks
the row through the API's `SessionGate`, so a sign-out (here or through the API's
`/auth/sign-out-all`) or a revocation ends the browser session too.

CSRF: every form carries `csrf_token`, an HMAC of a random per-browser value kept in its own
cookie (signed double submit). A post whose token does not match is refused with 403.
Both cookies are HttpOnly and SameSite=Lax; Secure outside dev.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from admitone.auth.deps import Actor, session_gate
from admitone.auth.secrets import keyed_hash, same
from admitone.core.errors import Forbidden
from admitone.core.ids import AuthSessionId, UserId
from admitone.settings import Settings

SESSION_COOKIE = "admitone_session"
CSRF_COOKIE = "admitone_csrf"


class CsrfRejected(Forbidden):
    code = "csrf_token_invalid"
    message = "This form has expired or did not come from this site. Reload the page and retry."


@dataclass(frozen=True)
class BrowserSession:
    actor: Actor
    issued_at: int


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _cookie_args(settings: Settings, max_age: int | None) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "lax",
        "secure": not settings.is_dev,
        "path": "/",
        "max_age": max_age,
    }


def _session_value(settings: Settings, sid: str, uid: str, issued: int) -> str:
    mac = keyed_hash(settings, "web_session", sid, uid, str(issued))
    return f"{sid}.{uid}.{issued}.{mac}"


def set_session_cookie(response: Response, settings: Settings, actor: Actor) -> None:
    issued = int(time.time())
    response.set_cookie(
        SESSION_COOKIE,
        _session_value(settings, actor.session_id, actor.user_id, issued),
        **_cookie_args(settings, settings.auth.refresh_token_days * 86400),
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


def _parse(settings: Settings, value: str) -> BrowserSession | None:
    parts = value.split(".")
    if len(parts) != 4:
        return None
    sid, uid, issued_raw, mac = parts
    if not issued_raw.isdigit():
        return None
    if not same(mac, keyed_hash(settings, "web_session", sid, uid, issued_raw)):
        return None
    issued = int(issued_raw)
    if issued + settings.auth.refresh_token_days * 86400 < time.time():
        return None
    return BrowserSession(Actor(UserId(uid), AuthSessionId(sid)), issued)


def browser_actor(request: Request) -> Actor | None:
    """The signed-in browser's actor, or None (no cookie, a forged one, or a session that
    was signed out or revoked)."""
    if hasattr(request.state, "web_actor"):
        cached: Actor | None = request.state.web_actor
        return cached
    actor: Actor | None = None
    raw = request.cookies.get(SESSION_COOKIE)
    settings = _settings(request)
    parsed = _parse(settings, raw) if raw else None
    if parsed is not None:
        gate = session_gate(request.app)
        sid, uid = parsed.actor.session_id, parsed.actor.user_id
        # Pages are plain `def` routes (the thread pool): the database read may block here.
        if gate.fresh(sid) or gate.check(request.app.state.db, uid, sid):
            actor = parsed.actor
    request.state.web_actor = actor
    return actor


def csrf_token(request: Request) -> str:
    """The token this browser's forms carry (the CSRF cookie is set by `ensure_csrf_cookie`
    on the response when the browser has none yet)."""
    nonce = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not nonce:
        nonce = secrets.token_urlsafe(24)
        request.state.new_csrf = nonce
    return keyed_hash(_settings(request), "csrf", nonce)


def ensure_csrf_cookie(request: Request, response: Response) -> None:
    nonce = getattr(request.state, "new_csrf", None)
    if nonce and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, nonce, **_cookie_args(_settings(request), None))


def check_csrf(request: Request, submitted: str | None) -> None:
    """Raises 403 `csrf_token_invalid` unless `submitted` matches this browser's token."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or not submitted:
        raise CsrfRejected()
    if not same(submitted, keyed_hash(_settings(request), "csrf", nonce)):
        raise CsrfRejected()
