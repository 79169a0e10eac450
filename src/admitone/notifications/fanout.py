"""The fan-out: an audience resolved in pages of user ids, each page one transaction.

A page inserts its notifications with multi-row INSERTs (chunks of `CHUNK` rows), schedules
the e-mail copies the recipients want, and schedules the next page as a new job in the same
transaction. 20,000 holders of a cancelled event are 20 jobs of 1,000, never one job per
user nor one giant transaction. Re-running a page inserts nothing twice: a notification is
unique per (user, source key) and an e-mail job per `ntf:<source>:<user>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from admitone.access.capabilities import TEAM_ROLES, Capability
from admitone.access.models import PlatformRole
from admitone.core import jobs
from admitone.core.clock import utcnow
from admitone.core.db import publish
from admitone.core.ids import JobId, NotificationId
from admitone.core.outbox import NOTIFY_JOB
from admitone.notifications.kinds import CATALOG, NotificationKind, words
from admitone.notifications.models import Notification, NotificationPreference
from admitone.orgs.models import TeamMember
from admitone.passes.models import Pass
from admitone.settings import Settings
from admitone.users.models import User

PARTS = ("users", "emails", "event_holders", "organization_team", "platform_role")
CHUNK = 500
# The team roles that hear about orders (placed, refunded).
ORDER_ROLES = sorted(r for r, caps in TEAM_ROLES.items() if Capability.ORDER_READ in caps)


def user_topic(user_id: str) -> str:
    return f"user:{user_id}:notifications"


def _audience_query(part: str, value: Any) -> Select[Any]:
    col: Any
    if part == "users":
        col = User.id
        return select(col).where(col.in_([str(v) for v in value]), User.deleted_at.is_(None))
    if part == "emails":
        col = User.id
        return select(col).where(
            func.lower(User.email).in_([str(v) for v in value]), User.deleted_at.is_(None)
        )
    if part == "event_holders":
        col = Pass.holder_user_id
        return (
            select(col)
            .where(
                Pass.event_id == str(value),
                # A cancelled event's refunds revoke its passes, maybe before this page runs.
                (Pass.status == "valid") | (Pass.revoked_reason == "event_cancelled"),
                col.is_not(None),
            )
            .distinct()
        )
    if part == "organization_team":
        col = TeamMember.user_id
        return (
            select(col)
            .where(TeamMember.organization_id == str(value), TeamMember.role.in_(ORDER_ROLES))
            .distinct()
        )
    if part == "platform_role":
        col = PlatformRole.user_id
        return select(col).where(PlatformRole.role == str(value)).distinct()
    raise ValueError(f"unknown audience part {part!r}")


def recipients_page(
    session: Session, part: str, value: Any, after: str | None, limit: int
) -> list[str]:
    query = _audience_query(part, value)
    col = query.selected_columns[0]
    if after is not None:
        query = query.where(col > after)
    return [str(u) for u in session.scalars(query.order_by(col).limit(limit))]


def unsubscribe_token(settings: Settings, user_id: str, kind: str) -> str:
    payload = base64.urlsafe_b64encode(f"{user_id}.{kind}".encode()).decode().rstrip("=")
    return f"{payload}.{_mac(settings, payload)}"


def _mac(settings: Settings, payload: str) -> str:
    digest = hmac.new(
        settings.secret, b"notifications.unsubscribe:" + payload.encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest[:20]).decode().rstrip("=")


def read_unsubscribe_token(settings: Settings, token: str) -> tuple[str, NotificationKind] | None:
    """(user id, kind) of a token this instance signed, else None."""
    payload, _, mac = token.partition(".")
    if not payload or len(token) > 300 or not hmac.compare_digest(mac, _mac(settings, payload)):
        return None
    try:
        plain = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        user_id, _, kind = plain.partition(".")
        return user_id, NotificationKind(kind)
    except ValueError:
        return None


def deliver(
    session: Session,
    settings: Settings,
    kind: NotificationKind,
    source: str,
    data: dict[str, Any],
    user_ids: Sequence[str],
) -> int:
    """Inserts the notifications of one page of recipients and queues their e-mail copies;
    returns how many in-app notifications were new (a re-run inserts none)."""
    spec = CATALOG[kind]
    prefs: dict[str, NotificationPreference] = {
        p.user_id: p
        for p in session.scalars(
            select(NotificationPreference).where(
                NotificationPreference.user_id.in_(user_ids), NotificationPreference.kind == kind
            )
        )
    }
    title, body = words(kind, data)
    now = utcnow()
    in_app = [u for u in user_ids if (prefs[u].in_app if u in prefs else spec.in_app)]
    made = 0
    for start in range(0, len(in_app), CHUNK):
        chunk = in_app[start : start + CHUNK]
        ids = [NotificationId.new() for _ in chunk]
        made += _insert_notifications(session, ids, chunk, kind, title, body, data, source, now)
    publish(session, *(user_topic(u) for u in in_app))
    if spec.email:
        wants = [
            u for u in user_ids if spec.transactional or (prefs[u].email if u in prefs else True)
        ]
        _queue_emails(session, settings, kind, source, title, body, wants)
    return made


# PostgreSQL: one small statement per chunk whatever its size: the columns that differ per
# row travel as arrays (parsed and planned once), the rest once.
_PG_NOTIFICATIONS = text(
    "INSERT INTO notifications (id, user_id, kind, title, body, data, source_key, created_at)"
    " SELECT i, u, :kind, :title, :body, CAST(:data AS jsonb), :source, :now"
    " FROM unnest(CAST(:ids AS text[]), CAST(:users AS text[])) AS r(i, u)"
    " ON CONFLICT DO NOTHING"
)
_PG_JOBS = text(
    "INSERT INTO jobs (id, name, args, status, run_at, attempts, max_attempts, unique_key,"
    " created_at, updated_at)"
    " SELECT i, :name, a, 'queued', :now, 0, :max_attempts, k, :now, :now"
    " FROM unnest(CAST(:ids AS text[]), CAST(:args AS jsonb[]), CAST(:keys AS text[]))"
    " AS r(i, a, k) ON CONFLICT DO NOTHING"
)


def _insert_notifications(
    session: Session,
    ids: list[NotificationId],
    user_ids: list[str],
    kind: NotificationKind,
    title: str,
    body: str | None,
    data: dict[str, Any],
    source: str,
    now: datetime,
) -> int:
    if session.get_bind().dialect.name == "postgresql":
        result = session.execute(
            _PG_NOTIFICATIONS,
            {
                "ids": ids,
                "users": user_ids,
                "kind": kind.value,
                "title": title,
                "body": body,
                "data": json.dumps(data),
                "source": source,
                "now": now,
            },
        )
        return int(getattr(result, "rowcount", 0) or 0)
    rows = [
        {
            "id": i,
            "user_id": u,
            "kind": kind.value,
            "title": title,
            "body": body,
            "data": data,
            "source_key": source,
            "created_at": now,
        }
        for i, u in zip(ids, user_ids, strict=True)
    ]
    # SQLite: executemany of one cached statement (in-process, no round trips).
    result = session.execute(sqlite_insert(Notification).on_conflict_do_nothing(), rows)
    return int(getattr(result, "rowcount", 0) or 0)


def _queue_emails(
    session: Session,
    settings: Settings,
    kind: NotificationKind,
    source: str,
    title: str,
    body: str | None,
    user_ids: Sequence[str],
) -> None:
    if not user_ids:
        return
    addresses = session.execute(
        select(User.id, User.email).where(User.id.in_(user_ids), User.email.is_not(None))
    ).all()
    spec = CATALOG[kind]
    now = utcnow()
    rows = []
    for user_id, email in addresses:
        context: dict[str, Any] = {
            "title": title,
            "body": body or "",
            "link": f"{settings.base_url}/",
            "unsubscribe_url": None,
        }
        headers: dict[str, str] = {}
        if not spec.transactional:
            url = f"{settings.base_url}/unsubscribe/{unsubscribe_token(settings, user_id, kind)}"
            context["unsubscribe_url"] = url
            headers = {
                "List-Unsubscribe": f"<{url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        rows.append(
            {
                "id": JobId.new(),
                "name": "emails.send",
                "args": {
                    "to": email,
                    "template": "notification",
                    "context": context,
                    "headers": headers,
                },
                "status": "queued",
                "run_at": now,
                "attempts": 0,
                "max_attempts": 8,
                "unique_key": f"ntf:{source}:{user_id}",
                "created_at": now,
                "updated_at": now,
            }
        )
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                _PG_JOBS,
                {
                    "ids": [r["id"] for r in chunk],
                    "args": [json.dumps(r["args"]) for r in chunk],
                    "keys": [r["unique_key"] for r in chunk],
                    "name": "emails.send",
                    "now": now,
                    "max_attempts": 8,
                },
            )
        else:
            session.execute(sqlite_insert(jobs.JOBS).on_conflict_do_nothing(), chunk)
    session.info["jobs_scheduled"] = True


def fanout_page(
    session: Session,
    settings: Settings,
    *,
    kind: str,
    source: str,
    audience: dict[str, Any],
    data: dict[str, Any],
    part: int = 0,
    after: str | None = None,
) -> int:
    """One page of the audience; schedules the next page (or part) as a new job."""
    the_kind = NotificationKind(kind)
    parts = [p for p in PARTS if audience.get(p)]
    if part >= len(parts):
        return 0
    limit = settings.notify.fanout_page
    user_ids = recipients_page(session, parts[part], audience[parts[part]], after, limit)
    made = deliver(session, settings, the_kind, source, data, user_ids) if user_ids else 0
    next_args = {"kind": kind, "source": source, "audience": audience, "data": data}
    if len(user_ids) == limit:
        last = user_ids[-1]
        jobs.schedule(
            session,
            NOTIFY_JOB,
            {**next_args, "part": part, "after": last},
            unique_key=f"ntf:{source}:{part}:{last}",
        )
    elif part + 1 < len(parts):
        jobs.schedule(
            session,
            NOTIFY_JOB,
            {**next_args, "part": part + 1},
            unique_key=f"ntf:{source}:{part + 1}:",
        )
    return made
