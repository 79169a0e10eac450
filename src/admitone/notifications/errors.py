"""Ways a notification request is refused."""

from __future__ import annotations

from admitone.core.errors import Invalid, NotFound, RateLimited


class NotificationNotFound(NotFound):
    code = "notification_not_found"
    message = "No such notification."


class UnknownKind(Invalid):
    code = "unknown_notification_kind"
    message = "No such notification kind."


class PreferenceLocked(Invalid):
    code = "preference_locked"
    message = "E-mail for this kind is transactional and cannot be switched off."


class InvalidUnsubscribeToken(NotFound):
    code = "invalid_unsubscribe_token"
    message = "This unsubscribe link is not valid."


class InvalidResendCode(Invalid):
    code = "invalid_code"
    message = "The code is wrong or has expired."


class ResendRateLimited(RateLimited):
    code = "rate_limited"
    message = "Too many requests for this address; try again later."
