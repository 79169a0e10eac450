"""API shapes of notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
