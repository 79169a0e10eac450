"""Refusals of the users domain."""

from __future__ import annotations

from admitone.core.errors import Invalid, Unauthorized


class AccountDeleted(Unauthorized):
    code = "account_deleted"
    message = "This account was deleted."


class InvalidAvatar(Invalid):
    code = "invalid_avatar"
    message = "The avatar must be an image file you uploaded."
