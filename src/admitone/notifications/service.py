"""The inbox (list, unread count, read), preferences per kind and channel, and unsubscribe."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.db import publish
from admitone.core.ids import NotificationPreferenceId
from admitone.core.pagination import Keyset, SortKey
from admitone.notifications.errors import (
    InvalidUnsubscribeToken,
    NotificationNotFound,
    PreferenceLocked,
)
from admitone.notifications.fanout import read_unsubscribe_token, user_topic
from admitone.notifications.kinds import CATALOG, Channel, NotificationKind
from admitone.notifications.models import Notification, NotificationPreference
from admitone.settings import Settings

NEWEST = Keyset(
    SortKey(Notification.__table__.c.created_at, datetime, descending=True),
    SortKey(Notification.__table__.c.id, str, descending=True),
)


def list_notifications(
    session: Session, user_id: str, *, unread: bool | None, limit: int, cursor: str | None
) -> tuple[list[Notification], str | None]:
    query = select(Notification).where(Notification.user_id == user_id)
    if unread is True:
        query = query.where(Notification.read_at.is_(None))
    elif unread is False:
        query = query.where(Notification.read_at.is_not(None))
    return NEWEST.page(session, query, limit=limit, cursor=cursor)


def unread_count(session: Session, user_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )


def read_notification(session: Session, user_id: str, notification_id: str) -> Notification:
    """Marks one of the caller's notifications read (idempotent); 404 for anyone else's."""
    found = session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user_id
        )
    )
    if found is None:
        raise NotificationNotFound()
    if found.read_at is None:
        found.read_at = utcnow()
        publish(session, user_topic(user_id))
    return found


def read_all(session: Session, user_id: str) -> int:
    result = session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        publish(session, user_topic(user_id))
    return count


def preferences(session: Session, user_id: str) -> dict[NotificationKind, dict[Channel, bool]]:
    """Every kind with its channels: the user's choice, else the kind's default."""
    chosen = {
        p.kind: p
        for p in session.scalars(
            select(NotificationPreference).where(NotificationPreference.user_id == user_id)
        )
    }
    out: dict[NotificationKind, dict[Channel, bool]] = {}
    for kind, spec in CATALOG.items():
        p = chosen.get(kind.value)
        out[kind] = {
            Channel.IN_APP: p.in_app if p else spec.in_app,
            Channel.EMAIL: spec.email and (spec.transactional or (p.email if p else True)),
        }
    return out


def set_preference(
    session: Session, user_id: str, kind: NotificationKind, *, in_app: bool, email: bool
) -> None:
    spec = CATALOG[kind]
    if spec.transactional and not email:
        raise PreferenceLocked()
    ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    stmt = ins(NotificationPreference).values(
        id=NotificationPreferenceId.new(),
        user_id=user_id,
        kind=kind.value,
        in_app=in_app,
        email=email,
        created_at=now,
        updated_at=now,
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id", "kind"],
            set_={"in_app": in_app, "email": email, "updated_at": now},
        )
    )


def set_preferences(
    session: Session, user_id: str, choices: dict[NotificationKind, dict[Channel, bool]]
) -> dict[NotificationKind, dict[Channel, bool]]:
    current = preferences(session, user_id)
    for kind, channels in choices.items():
        merged = {**current[kind], **channels}
        set_preference(
            session, user_id, kind, in_app=merged[Channel.IN_APP], email=merged[Channel.EMAIL]
        )
    return preferences(session, user_id)


def unsubscribe_target(settings: Settings, token: str) -> tuple[str, NotificationKind]:
    found = read_unsubscribe_token(settings, token)
    if found is None or CATALOG[found[1]].transactional:
        raise InvalidUnsubscribeToken()
    return found


def unsubscribe(session: Session, settings: Settings, token: str) -> NotificationKind:
    """Turns off e-mail for the one kind the signed token names (no sign-in needed)."""
    user_id, kind = unsubscribe_target(settings, token)
    current = preferences(session, user_id)[kind]
    set_preference(session, user_id, kind, in_app=current[Channel.IN_APP], email=False)
    return kind
