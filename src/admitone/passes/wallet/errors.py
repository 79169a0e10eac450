"""Every way a wallet request can be refused."""

from __future__ import annotations

from typing import Any

from admitone.core.errors import Invalid, NotFound, Unauthorized, Unavailable


class WalletUnauthorized(Unauthorized):
    code = "wallet_unauthorized"
    message = "The ApplePass authorization does not match this pass."

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.headers["WWW-Authenticate"] = "ApplePass"


class UnknownPassType(NotFound):
    code = "unknown_pass_type"
    message = "This service issues no passes of that type."


class InvalidUpdateTag(Invalid):
    code = "invalid_update_tag"
    message = "passesUpdatedSince must be a tag this service returned as lastUpdated."


class WalletUnavailable(Unavailable):
    code = "wallet_unavailable"
    message = "Wallet passes are not configured on this server."
