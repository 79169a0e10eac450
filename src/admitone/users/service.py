"""Users: one per verified e-mail across sign-in methods (account linking), profiles,
memberships, and account deletion (anonymise, keep the rows orders point at)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from admitone.auth import service as auth
from admitone.auth.errors import EmailNotVerified
from admitone.auth.models import AuthAccount
from admitone.core.clock import utcnow
from admitone.core.db import insert_for
from admitone.core.files import File
from admitone.core.ids import AuthAccountId, UserId
from admitone.emails.service import forget_recipient
from admitone.users.errors import AccountDeleted, InvalidAvatar
from admitone.users.models import User


def link_identity(
    session: Session,
    *,
    provider: str,
    subject: str,
    email: str | None,
    email_verified: bool,
    is_private_email: bool = False,
    name: str | None = None,
) -> UserId:
    """The user a provider identity signs in as, linking or creating as needed.

    A known identity signs in as its user (and a disabled link is re-enabled: the provider
    just vouched for it again). A new identity links only through a *verified* e-mail: to
    the user holding that address, or to a new user. Both inserts are `ON CONFLICT DO
    NOTHING` followed by a read, so concurrent first sign-ins converge on one user and
    one account. A name is only filled in, never overwritten (Apple sends it once).
    """
    now = utcnow()
    account = session.execute(
        select(AuthAccount.id, AuthAccount.user_id).where(
            AuthAccount.provider == provider, AuthAccount.provider_account_id == subject
        )
    ).one_or_none()
    if account is None:
        if not email or not email_verified:
            raise EmailNotVerified()
        session.execute(
            insert_for(session, User)
            .values(
                id=UserId.new(),
                email=email,
                email_verified_at=now,
                name=name or None,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["email"])
        )
        user_id = session.scalar(select(User.id).where(User.email == email))
        assert user_id is not None
        session.execute(
            insert_for(session, AuthAccount)
            .values(
                id=AuthAccountId.new(),
                user_id=user_id,
                provider=provider,
                provider_account_id=subject,
                email=email,
                email_verified=True,
                is_private_email=is_private_email,
                last_used_at=now,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["provider", "provider_account_id"])
        )
        linked = session.scalar(
            select(AuthAccount.user_id).where(
                AuthAccount.provider == provider, AuthAccount.provider_account_id == subject
            )
        )
        assert linked is not None
        user_id = linked
    else:
        user_id = account.user_id
        changes: dict[str, Any] = {"last_used_at": now, "disabled_at": None, "updated_at": now}
        if email and email_verified:
            changes.update(email=email, is_private_email=is_private_email)
        session.execute(
            update(AuthAccount)
            .where(AuthAccount.id == account.id)
            .values(**changes)
            .execution_options(synchronize_session=False)
        )
    user = session.execute(
        select(User.deleted_at, User.email_verified_at, User.email, User.name).where(
            User.id == user_id
        )
    ).one()
    if user.deleted_at is not None:
        raise AccountDeleted()
    fill: dict[str, Any] = {}
    if name and not user.name:
        fill["name"] = name
    if user.email_verified_at is None and email_verified and email == user.email:
        fill["email_verified_at"] = now
    if fill:
        session.execute(
            update(User)
            .where(User.id == user_id)
            .values(**fill, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return UserId(user_id)


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise AccountDeleted()
    return user


_UNSET: Any = object()


def update_profile(
    session: Session,
    user_id: str,
    *,
    name: str | None = _UNSET,
    phone: str | None = _UNSET,
    avatar_file_id: str | None = _UNSET,
) -> User:
    """Changes only the fields given; `None` clears one. The avatar must be an image file
    the user uploaded. The e-mail is not editable here: it is an identity, proven by
    signing in with it."""
    user = get_user(session, user_id)
    if name is not _UNSET:
        user.name = name
    if phone is not _UNSET:
        user.phone = phone
    if avatar_file_id is not _UNSET:
        if avatar_file_id is not None:
            file = session.get(File, avatar_file_id)
            if (
                file is None
                or file.owner_user_id != user_id
                or not file.content_type.startswith("image/")
            ):
                raise InvalidAvatar()
        user.avatar_file_id = avatar_file_id  # type: ignore[assignment]
    session.flush()
    return user


def delete_account(session: Session, user_id: str) -> tuple[str | None, list[str]]:
    """Anonymises the user: personal data cleared, every sign-in method unlinked, every
    session revoked. The row stays (orders, passes and check-ins point at it, and the
    organizer's books keep the buyer details they recorded at purchase).
    Returns (the former e-mail, the revoked session ids)."""
    user = get_user(session, user_id)
    email = user.email
    revoked = auth.forget_user(session, user_id, email)
    now = utcnow()
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            email=None,
            email_verified_at=None,
            name=None,
            phone=None,
            avatar_file_id=None,
            deleted_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return email, revoked


def delete_me(session: Session, user_id: str) -> list[str]:
    """Deletes the account (see `delete_account`) and forgets its address in the mail log;
    returns the ended sessions' ids."""
    email, revoked = delete_account(session, user_id)
    if email:
        forget_recipient(session, email)
    return revoked
