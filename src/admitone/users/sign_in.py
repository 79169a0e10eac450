"""Signing in: the use cases that span `auth` (codes, identities, sessions, tokens) and
`users` (the account a sign-in creates or links). They live here, above auth: auth checks
the code or the refresh token and starts the session; this links the account and answers
with the signed-in user."""

from __future__ import annotations

from sqlalchemy.orm import Session

from admitone.auth import oidc
from admitone.auth import service as auth
from admitone.auth.schemas import SignedInUser, TokenResponse
from admitone.core.errors import AppError
from admitone.settings import Settings
from admitone.users.models import User
from admitone.users.service import link_identity


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
    client: tuple[str, str | None],
) -> TokenResponse | AppError:
    if check.error is not None:
        return check.error  # committed: the attempt counts
    assert check.email is not None
    user_id = link_identity(
        session, provider="email", subject=check.email, email=check.email, email_verified=True
    )
    ip, user_agent = client
    tokens = auth.start_session(
        session, settings, user_id, method=method, ip=ip, user_agent=user_agent
    )
    return _response(session, tokens, check.redirect_url)


def verify_otp(
    session: Session,
    settings: Settings,
    email: str,
    code: str,
    client: tuple[str, str | None],
) -> TokenResponse | AppError:
    """The e-mailed code signs in (creating the account on first use); a wrong code is
    returned, not raised, so the attempt it counts is committed. `client`: (ip, user agent)."""
    check = auth.check_otp(session, settings, email, code)
    return _sign_in_with_code(session, settings, check, "otp", client)


def verify_magic_link(
    session: Session, settings: Settings, token: str, client: tuple[str, str | None]
) -> TokenResponse | AppError:
    """The magic link's token signs in, as `verify_otp`."""
    check = auth.check_magic_link(session, settings, token)
    return _sign_in_with_code(session, settings, check, "magic_link", client)


def sign_in_with_identity(
    session: Session,
    settings: Settings,
    identity: oidc.Identity,
    name: str | None,
    client: tuple[str, str | None],
) -> TokenResponse:
    """A verified Google or Apple identity signs in, linking or creating the account."""
    user_id = link_identity(
        session,
        provider=identity.provider,
        subject=identity.subject,
        email=identity.email,
        email_verified=identity.email_verified,
        is_private_email=identity.is_private_email,
        name=name,
    )
    ip, user_agent = client
    tokens = auth.start_session(
        session, settings, user_id, method=identity.provider, ip=ip, user_agent=user_agent
    )
    return _response(session, tokens)


def refresh(
    session: Session, settings: Settings, refresh_token: str, client: tuple[str, str]
) -> tuple[TokenResponse | None, auth.RefreshOutcome]:
    """Rotates the refresh token; (None, outcome) when it failed (a reuse revokes the
    session, committed)."""
    outcome = auth.rotate_refresh_token(session, settings, refresh_token, client)
    if outcome.tokens is None:
        return None, outcome
    return _response(session, outcome.tokens), outcome
