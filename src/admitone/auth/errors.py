"""Every way a sign-in, a token or a refresh can be refused, with its stable code."""

from __future__ import annotations

from typing import Any

from admitone.core.errors import (
    BadRequest,
    Forbidden,
    Invalid,
    ProviderError,
    Unauthorized,
    Unavailable,
)


class InvalidCode(BadRequest):
    code = "invalid_code"
    message = "That code is not right, or it was already used. Check it or ask for a new one."


class CodeExpired(BadRequest):
    code = "code_expired"
    message = "That code has expired; ask for a new one."


class TooManyAttempts(BadRequest):
    code = "too_many_attempts"
    message = "Too many wrong tries for this code; ask for a new one."


class InvalidMagicLink(BadRequest):
    code = "invalid_magic_link"
    message = "That sign-in link is not valid, or it was already used; ask for a new one."


class MagicLinkExpired(BadRequest):
    code = "magic_link_expired"
    message = "That sign-in link has expired; ask for a new one."


class RedirectNotAllowed(Invalid):
    code = "redirect_not_allowed"
    message = "The redirect address is not one this platform sends sign-in links to."


class InvalidIdToken(Unauthorized):
    """A Google or Apple ID token we cannot trust; `reason` says which check failed."""

    code = "invalid_id_token"
    message = "The identity token could not be verified."

    def __init__(self, reason: str, message: str | None = None, **extra: Any) -> None:
        super().__init__(message, reason=reason, **extra)


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    message = (
        "The provider has not verified this e-mail address, so it cannot sign in to or "
        "create an account. Verify it with the provider or sign in with an e-mail code."
    )


class GoogleDomainNotAllowed(Forbidden):
    """A verified Google ID token whose hosted domain (`hd`) is not one we accept."""

    code = "google_domain_not_allowed"
    message = (
        "This Google account does not belong to a Google Workspace domain allowed to sign "
        "in here. Sign in with an account of an allowed domain or with an e-mail code."
    )


class ProviderNotConfigured(Unavailable):
    code = "provider_not_configured"
    message = "This sign-in method is not configured on this server."


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"
    message = "The identity provider's keys could not be fetched; try again shortly."


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"
    message = "The refresh token is not valid; sign in again."


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    message = "This refresh token was already used, so the session was ended; sign in again."


class SessionRevoked(Unauthorized):
    code = "session_revoked"
    message = "This session has ended; sign in again."


class InvalidNotification(Unauthorized):
    code = "invalid_notification"
    message = "The notification's signature could not be verified."
