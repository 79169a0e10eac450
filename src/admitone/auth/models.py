"""Sign-in tables: sessions (the `sid` of an access token), their refresh tokens, provider
identities linked to users, and outstanding e-mail sign-in codes and magic links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Mutable, Timestamped, id_column
from admitone.core.ids import (
    AuthAccountId,
    AuthSessionId,
    RefreshTokenId,
    SignInCodeId,
    UserId,
)

AUTH_METHODS = ("otp", "magic_link", "google", "apple")
PROVIDERS = ("email", "google", "apple")
CODE_KINDS = ("otp", "magic_link")


class AuthSession(Mutable, Base):
    __tablename__ = "auth_sessions"

    id: Mapped[AuthSessionId] = id_column()
    user_id: Mapped[UserId] = mapped_column(ForeignKey("users.id"), index=True)
    method: Mapped[str] = mapped_column(String(20))  # otp, magic_link, google, apple
    user_agent: Mapped[str | None] = mapped_column(String(300))
    ip: Mapped[str | None] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class RefreshToken(Timestamped, Base):
    """One opaque refresh token of a session, stored as a keyed hash. Using it sets
    `rotated_at` (a conditional update, so only one use ever wins) and mints a child;
    presenting a token whose `rotated_at` is set revokes the whole session."""

    __tablename__ = "refresh_tokens"

    id: Mapped[RefreshTokenId] = id_column()
    session_id: Mapped[AuthSessionId] = mapped_column(ForeignKey("auth_sessions.id"), index=True)
    parent_id: Mapped[RefreshTokenId | None] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    # Keyed hash of the client (address and user agent) that rotated it: a retry from the
    # same client within the grace window gets the same child instead of ending the session.
    rotated_by: Mapped[str | None] = mapped_column(String(64))


class AuthAccount(Mutable, Base):
    """A provider identity (`email` + address, `google` + sub, `apple` + sub) of a user."""

    __tablename__ = "auth_accounts"
    __table_args__ = (
        UniqueConstraint("provider", "provider_account_id"),
        CheckConstraint("provider IN ('email','google','apple')", name="provider"),
    )

    id: Mapped[AuthAccountId] = id_column()
    user_id: Mapped[UserId] = mapped_column(ForeignKey("users.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_account_id: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    email_verified: Mapped[bool] = mapped_column(default=False)
    is_private_email: Mapped[bool] = mapped_column(default=False)
    last_used_at: Mapped[datetime | None]
    # Set by Apple's consent-revoked / account-delete notifications: the link no longer
    # signs anybody in until the provider vouches for the identity again.
    disabled_at: Mapped[datetime | None]


class SignInCode(Timestamped, Base):
    """The one outstanding OTP or magic link per (e-mail, kind): a new one replaces the
    row (voiding the old). `attempts` is counted by a conditional update, so the per-code
    limit holds whatever happens to the rate limiter."""

    __tablename__ = "sign_in_codes"
    __table_args__ = (
        UniqueConstraint("email", "kind"),
        CheckConstraint("kind IN ('otp','magic_link')", name="kind"),
    )

    id: Mapped[SignInCodeId] = id_column()
    kind: Mapped[str] = mapped_column(String(12))
    email: Mapped[str] = mapped_column(String(320))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    redirect_url: Mapped[str | None] = mapped_column(String(2000))
    attempts: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime]
    consumed_at: Mapped[datetime | None]
