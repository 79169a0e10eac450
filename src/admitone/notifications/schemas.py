"""API shapes of notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from admitone.core.ids import NotificationId
from admitone.notifications.kinds import CATALOG, NotificationKind


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: NotificationId
    kind: str
    title: str
    body: str | None
    data: dict[str, Any] | None
    read_at: datetime | None
    created_at: datetime


class UnreadCount(BaseModel):
    unread: int


class ReadAll(BaseModel):
    updated: int


class InboxState(BaseModel):
    """What the stream pushes: the unread count and the newest notifications."""

    unread: int
    latest: list[NotificationOut]


class ChannelChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    in_app: bool | None = None
    email: bool | None = None


class PreferenceOut(BaseModel):
    kind: NotificationKind
    in_app: bool
    email: bool
    # E-mail copies exist for this kind at all / cannot be switched off.
    email_available: bool
    transactional: bool


class PreferencesOut(BaseModel):
    items: list[PreferenceOut]


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preferences: dict[NotificationKind, ChannelChoice] = Field(
        description="Per kind, the channels to change; others keep their value."
    )


def preferences_out(current: dict[Any, dict[Any, bool]]) -> PreferencesOut:
    return PreferencesOut(
        items=[
            PreferenceOut(
                kind=kind,
                in_app=channels["in_app"],
                email=channels["email"],
                email_available=CATALOG[kind].email,
                transactional=CATALOG[kind].transactional,
            )
            for kind, channels in current.items()
        ]
    )


class OrderEmailOut(BaseModel):
    id: str
    template: str
    to: str = Field(description="The address, masked.")
    status: str = Field(description="queued | sent | failed | bounced")
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class OrderEmails(BaseModel):
    items: list[OrderEmailOut]


class ResendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=320)


class ResendVerifyIn(ResendIn):
    code: str = Field(pattern=r"^[0-9]{6}$")


class ResendAccepted(BaseModel):
    detail: str = "If this address bought tickets, a code is on its way."


class Resent(BaseModel):
    resent: int = Field(description="How many orders' confirmations were sent again.")
