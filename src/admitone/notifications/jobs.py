"""Notification jobs: `notifications.notify` (one page of a fan-out per run) and the
`notifications.event_reminders` cron (holders of events that start in about 24 hours)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.core import jobs
from admitone.core.clock import utcnow
from admitone.core.jobs import JobContext, cron, job
from admitone.core.outbox import NOTIFY_JOB
from admitone.events.models import Event
from admitone.notifications.fanout import fanout_page
from admitone.notifications.kinds import NotificationKind

REMINDERS = "notifications.event_reminders"
REMINDER_EVERY = timedelta(minutes=15)


@job(NOTIFY_JOB)
def notify(ctx: JobContext, /, **args: Any) -> None:
    """Args as `core.outbox.notify` schedules them (`kind`, `source`, `audience`, `data`),
    plus `part` and `after` on continuation pages."""
    ctx.db.mutation(
        fanout_page,
        ctx.settings,
        kind=str(args["kind"]),
        source=str(args["source"]),
        audience=dict(args["audience"]),
        data=dict(args.get("data") or {}),
        part=int(args.get("part") or 0),
        after=args.get("after"),
    )


def schedule_reminders(session: Session, now: datetime) -> int:
    """Schedules one reminder fan-out per published event starting 24 h from now (within
    the cron's step, and a little more so a late run misses none); once per event."""
    horizon = now + timedelta(hours=24)
    due = session.execute(
        select(Event.id, Event.title, Event.starts_at, Event.timezone).where(
            Event.status == "published",
            Event.starts_at > now,
            Event.starts_at <= horizon + REMINDER_EVERY,
            Event.starts_at > horizon - 2 * REMINDER_EVERY,
        )
    ).all()
    for event_id, title, starts_at, tz in due:
        local = starts_at.astimezone(ZoneInfo(tz))
        jobs.schedule(
            session,
            NOTIFY_JOB,
            {
                "kind": NotificationKind.EVENT_REMINDER.value,
                "source": f"reminder:{event_id}",
                "audience": {"event_holders": event_id},
                "data": {
                    "event_id": event_id,
                    "event_title": title,
                    "starts_at": local.strftime("%Y-%m-%d %H:%M %Z"),
                },
            },
            unique_key=f"ntf:reminder:{event_id}",
        )
    return len(due)


@job(REMINDERS)
def event_reminders(ctx: JobContext, /, **_: Any) -> None:
    ctx.db.mutation(schedule_reminders, utcnow())


cron(REMINDERS, every=REMINDER_EVERY)
