"""Route dependencies: the signed-in caller (`CurrentUser`) or a 401 problem.

Every request verifies the access token's signature and claims, then checks that its
session has not been revoked. The session check reads the row at most once per
`session_check_seconds` per process and session (a sign-out in this process is seen at
once; in another process within that many seconds), which keeps auth overhead small while
a signed-out or deleted account loses access within seconds, not at token expiry.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from admitone.auth import internal
from admitone.auth.errors import SessionRevoked
from admitone.auth.service import is_session_live
from admitone.auth.tokens import verify_access_token
from admitone.core.db import Database
from admitone.core.errors import Unauthorized
from admitone.core.ids import AuthSessionId, UserId


@dataclass(frozen=True)
class Actor:
    """Who is calling: a user, through one sign-in session."""

    user_id: UserId
    session_id: AuthSessionId


class SessionGate:
    """Per-process memory of sessions recently seen live."""

    max_entries = 100_000

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._live: dict[str, float] = {}
        self._lock = threading.Lock()

    def fresh(self, sid: str) -> bool:
        until = self._live.get(sid)
        return until is not None and until > time.monotonic()

    def check(self, db: Database, user_id: str, sid: str) -> bool:
        live = db.query(is_session_live, sid, user_id)
        with self._lock:
            if live and self.ttl > 0:
                if len(self._live) >= self.max_entries:
                    self._live.clear()
                self._live[sid] = time.monotonic() + self.ttl
            else:
                self._live.pop(sid, None)
        return live

    def forget(self, *sids: str) -> None:
        with self._lock:
            for sid in sids:
                self._live.pop(sid, None)


_gate_lock = threading.Lock()


def session_gate(app: FastAPI) -> SessionGate:
    gate: SessionGate | None = getattr(app.state, "session_gate", None)
    if gate is None:
        with _gate_lock:
            gate = getattr(app.state, "session_gate", None)
            if gate is None:
                gate = SessionGate(app.state.settings.auth.session_check_seconds)
                app.state.session_gate = gate
    return gate


class _BearerActor(HTTPBearer):
    """One dependency that both declares the bearer scheme (OpenAPI's Authorize button) and
    resolves the actor: FastAPI resolves each dependency separately, so folding the header
    parsing into the actor check keeps the per-request cost of auth small."""

    def __init__(self, *, required: bool) -> None:
        super().__init__(
            auto_error=False,
            scheme_name="HTTPBearer",
            description="An access token from /api/v1/auth/...",
        )
        self.required = required

    async def __call__(self, request: Request) -> Actor | None:  # type: ignore[override]
        signed = request.headers.get(internal.HEADER)
        if signed is not None:
            # Through the mobile gateway, which verified the token and the session already.
            user_id, session_id = internal.read_identity(request.app.state.settings, signed)
            return Actor(user_id, session_id)
        actor = await bearer_actor(request)
        if actor is None and self.required:
            raise Unauthorized()
        return actor


async def bearer_actor(request: Request) -> Actor | None:
    """The caller named by the request's own bearer token (None without one), with its
    session checked live; 401 for a bad token or a revoked session. Ignores any
    internal identity header (the gateway uses this to verify callers itself)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    claims = verify_access_token(request.app.state.settings, token)
    gate = session_gate(request.app)
    if not gate.fresh(claims.session_id):
        # The database read runs off the event loop; the common path above does not block.
        live = await run_in_threadpool(
            gate.check, request.app.state.db, claims.user_id, claims.session_id
        )
        if not live:
            raise SessionRevoked()
    return Actor(claims.user_id, claims.session_id)


current_actor = _BearerActor(required=True)
optional_actor = _BearerActor(required=False)

CurrentUser = Annotated[Actor, Depends(current_actor)]
OptionalUser = Annotated[Actor | None, Depends(optional_actor)]
