"""The current user: `GET|PATCH|DELETE /me` (`GET /me/memberships` is in `orgs`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from admitone.auth.deps import CurrentUser, session_gate
from admitone.core.http import Db
from admitone.users import service as users
from admitone.users import sign_in_routes
from admitone.users.models import User
from admitone.users.schemas import Me, MeUpdate

api_router = APIRouter(prefix="/me", tags=["me"])


def _me(user: User) -> Me:
    return Me(
        id=user.id,
        email=user.email,
        email_verified=user.email_verified_at is not None,
        name=user.name,
        phone=user.phone,
        avatar_file_id=user.avatar_file_id,
        created_at=user.created_at,
    )


@api_router.get("", responses={401: {"description": "Not signed in"}})
def get_me(actor: CurrentUser, db: Db) -> Me:
    return db.query(lambda s: _me(users.get_user(s, actor.user_id)))


@api_router.patch("", responses={422: {"description": "invalid fields or invalid_avatar"}})
def patch_me(body: MeUpdate, actor: CurrentUser, db: Db) -> Me:
    changes = body.model_dump(include=body.model_fields_set)

    def _update(session: Session) -> Me:
        return _me(users.update_profile(session, actor.user_id, **changes))

    return db.mutation(_update)


@api_router.delete("", status_code=204)
def delete_me(actor: CurrentUser, request: Request, db: Db) -> Response:
    """Deletes the account: personal data is erased, every sign-in method unlinked and
    every session ended; orders stay in the organizers' books."""

    revoked = db.mutation(users.delete_me, actor.user_id)
    session_gate(request.app).forget(*revoked)
    return Response(status_code=204)


# The sign-in routes that answer with the account (their paths stay under /auth).
api_router.routes.extend(sign_in_routes.router.routes)
