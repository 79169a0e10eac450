"""Route dependencies: the signed-in caller (`CurrentUser`) or a 401 problem."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from admitone.auth.tokens import verify_access_token
from admitone.core.errors import Unauthorized
from admitone.core.ids import AuthSessionId, UserId

_bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/...")


@dataclass(frozen=True)
class Actor:
    """Who is calling: a user, through one sign-in session."""

    user_id: UserId
    session_id: AuthSessionId


def _credentials_actor(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Actor | None:
    if credentials is None:
        return None
    if credentials.scheme.lower() != "bearer":
        raise Unauthorized("Use an `Authorization: Bearer <token>` header.")
    claims = verify_access_token(request.app.state.settings, credentials.credentials)
    return Actor(claims.user_id, claims.session_id)


def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    actor = _credentials_actor(request, credentials)
    if actor is None:
        raise Unauthorized()
    return actor


def optional_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor | None:
    return _credentials_actor(request, credentials)


CurrentUser = Annotated[Actor, Depends(current_actor)]
OptionalUser = Annotated[Actor | None, Depends(optional_actor)]
