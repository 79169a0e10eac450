"""Notifications: made by jobs after the producer's commit, the inbox routes, preferences,
the batched fan-out, e-mail copies and one-click unsubscribe."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admitone.core import jobs, outbox
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.emails.models import EmailDelivery
from admitone.notifications.fanout import fanout_page, unsubscribe_token
from admitone.notifications.models import Notification, NotificationPreference
from admitone.settings import Settings
from tests.factories import (
    add_team_member,
    auth_headers,
    make_event,
    make_organization,
    make_pass,
    make_tier,
    make_user,
)


class Boom(Exception):
    pass


def _count(db: Database, **where: Any) -> int:
    def q(s: Session) -> int:
        stmt = select(func.count()).select_from(Notification)
        for k, v in where.items():
            stmt = stmt.where(getattr(Notification, k) == v)
        return int(s.scalar(stmt) or 0)

    return db.query(q)


def test_notification_is_made_after_commit_and_not_after_rollback(
    db: Database, run_jobs: Callable[[], int]
) -> None:
    with db.session() as s:
        buyer = make_user(s)

    def paid(session: Session, fail: bool) -> None:
        outbox.notify(
            session,
            "order_paid",
            users=[buyer.id],
            data={"order_id": "ord_x", "event_title": "Jazz"},
        )
        if fail:
            raise Boom

    with pytest.raises(Boom):
        db.mutation(paid, True)
    run_jobs()
    assert _count(db, user_id=buyer.id) == 0

    db.mutation(paid, False)
    assert _count(db, user_id=buyer.id) == 0  # nothing before the job runs
    run_jobs()
    assert _count(db, user_id=buyer.id) == 1
    note = db.query(lambda s: s.scalars(select(Notification)).one())
    assert note.title == "Your order for Jazz is paid"
    assert note.data == {"order_id": "ord_x", "event_title": "Jazz"}


def test_inbox_lists_counts_and_marks_read(
    db: Database, settings: Settings, client: TestClient, run_jobs: Callable[[], int]
) -> None:
    with db.session() as s:
        user, other = make_user(s), make_user(s)
        headers = auth_headers(s, settings, user)
        other_headers = auth_headers(s, settings, other)
    for i in range(3):
        db.mutation(
            lambda s, i=i: outbox.notify(
                s, "dp_approved", users=[user.id], data={"campaign_title": f"C{i}"}
            )
        )
        run_jobs()  # one at a time: a batch of jobs may run in any order
    assert client.get("/api/v1/me/notifications").status_code == 401
    page = client.get("/api/v1/me/notifications?limit=2", headers=headers).json()
    assert [n["title"] for n in page["items"]] == [
        "Your picture for C2 is approved",
        "Your picture for C1 is approved",
    ]
    rest = client.get(
        f"/api/v1/me/notifications?limit=2&cursor={page['next_cursor']}", headers=headers
    ).json()
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    bad = client.get("/api/v1/me/notifications?cursor=nope", headers=headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_cursor"

    count = "/api/v1/me/notifications/unread-count"
    assert client.get(count, headers=headers).json() == {"unread": 3}
    first = page["items"][0]["id"]
    # someone else's notification is not theirs to read
    assert (
        client.post(f"/api/v1/me/notifications/{first}/read", headers=other_headers).json()["code"]
        == "notification_not_found"
    )
    read = client.post(f"/api/v1/me/notifications/{first}/read", headers=headers)
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    assert client.get(count, headers=headers).json() == {"unread": 2}
    unread = client.get("/api/v1/me/notifications?unread=true", headers=headers).json()
    assert first not in [n["id"] for n in unread["items"]]
    assert client.post("/api/v1/me/notifications/read-all", headers=headers).json() == {
        "updated": 2
    }
    assert client.get(count, headers=headers).json() == {"unread": 0}
    wrong = client.post(
        "/api/v1/me/notifications/evt_01JD3ZZZZZZZZZZZZZZZZZZZZZ/read", headers=headers
    )
    assert wrong.status_code == 422


def test_preferences_are_honoured_per_kind_and_channel(
    db: Database, settings: Settings, client: TestClient, run_jobs: Callable[[], int]
) -> None:
    with db.session() as s:
        org_owner = make_user(s)
        org = make_organization(s, org_owner)
        event = make_event(s, org, title="Gala")
        tier = make_tier(s, event)
        quiet, loud = make_user(s), make_user(s)
        make_pass(s, event, tier, holder_user_id=quiet.id)
        make_pass(s, event, tier, holder_user_id=loud.id)
        headers = auth_headers(s, settings, quiet)
    url = "/api/v1/me/notification-preferences"
    before = {p["kind"]: p for p in client.get(url, headers=headers).json()["items"]}
    assert before["event_changed"] == {
        "kind": "event_changed",
        "in_app": True,
        "email": True,
        "email_available": True,
        "transactional": False,
    }
    locked = client.put(
        url, headers=headers, json={"preferences": {"event_cancelled": {"email": False}}}
    )
    assert locked.status_code == 422
    assert locked.json()["code"] == "preference_locked"
    unknown = client.put(url, headers=headers, json={"preferences": {"nope": {"email": False}}})
    assert unknown.status_code == 422
    put = client.put(
        url, headers=headers, json={"preferences": {"event_changed": {"in_app": False}}}
    )
    after = {p["kind"]: p for p in put.json()["items"]}
    assert after["event_changed"]["in_app"] is False
    assert after["event_changed"]["email"] is True

    db.mutation(
        lambda s: outbox.notify(
            s,
            "event_changed",
            event_holders=event.id,
            data={"event_title": "Gala", "summary": "New venue"},
        )
    )
    run_jobs()
    assert _count(db, user_id=quiet.id) == 0
    assert _count(db, user_id=loud.id) == 1
    # e-mail is on for both: two copies went out
    sent = db.query(
        lambda s: s.scalars(
            select(EmailDelivery.recipient).where(EmailDelivery.template == "notification")
        ).all()
    )
    assert sorted(sent) == sorted([quiet.email, loud.email])


def test_team_audience_is_the_roles_that_read_orders(
    db: Database, run_jobs: Callable[[], int]
) -> None:
    with db.session() as s:
        owner = make_user(s)
        org = make_organization(s, owner)
        finance, door = make_user(s), make_user(s)
        add_team_member(s, org, finance, "finance")
        add_team_member(s, org, door, "door_staff")
    db.mutation(
        lambda s: outbox.notify(
            s,
            "order_placed",
            organization_team=org.id,
            data={
                "order_id": "ord_1",
                "event_title": "Gala",
                "buyer_name": "Ada",
                "total": "NGN 5",
            },
        )
    )
    run_jobs()
    assert _count(db, user_id=owner.id) == 1
    assert _count(db, user_id=finance.id) == 1
    assert _count(db, user_id=door.id) == 0


def test_fan_out_is_paged_across_jobs_and_idempotent(
    db: Database, settings: Settings, run_jobs: Callable[[], int]
) -> None:
    small = settings.model_copy(
        update={"notify": settings.notify.model_copy(update={"fanout_page": 7})}
    )
    with db.session() as s:
        owner = make_user(s)
        event = make_event(s, make_organization(s, owner), title="Gala")
        tier = make_tier(s, event)
        holders = [make_user(s) for _ in range(20)]
        for h in holders:
            make_pass(s, event, tier, holder_user_id=h.id)
        make_pass(s, event, tier, holder_user_id=holders[0].id)  # two passes, one notification
        make_pass(s, event, tier, holder_user_id=make_user(s).id, status="revoked")
    db.mutation(
        lambda s: outbox.notify(
            s, "event_cancelled", event_holders=event.id, data={"event_title": "Gala"}
        )
    )
    ran = 0
    for _ in range(10):
        claimed = jobs.claim(db, "t", limit=100)
        names = [c.name for c in claimed]
        if not claimed:
            break
        ran += names.count("notifications.notify")
        jobs.run_claimed(db, small, "t", claimed)
    assert ran == 3  # 7 + 7 + 6 recipients
    assert _count(db, kind="event_cancelled") == 20
    # a page that runs again adds nothing
    db.mutation(
        fanout_page,
        small,
        kind="event_cancelled",
        source=db.query(lambda s: s.scalar(select(Notification.source_key))),
        audience={"event_holders": event.id},
        data={"event_title": "Gala"},
    )
    assert _count(db, kind="event_cancelled") == 20


def test_non_transactional_mail_has_one_click_unsubscribe_for_that_kind_only(
    db: Database, settings: Settings, client: TestClient, run_jobs: Callable[[], int]
) -> None:
    with db.session() as s:
        user = make_user(s)
    db.mutation(
        lambda s: outbox.notify(
            s, "deployment_failed", users=[user.id], data={"status": "failed", "service": "api"}
        )
    )
    db.mutation(
        lambda s: outbox.notify(s, "event_cancelled", users=[user.id], data={"event_title": "Gala"})
    )
    email_jobs = db.query(
        lambda s: {
            j.args["context"]["title"]: j.args
            for j in s.scalars(select(jobs.Job).where(jobs.Job.name == "emails.send"))
        }
    )
    # the notify jobs have not run yet: no e-mail job either
    assert email_jobs == {}
    run_jobs()
    email_jobs = db.query(
        lambda s: {
            j.args["context"]["title"]: j.args
            for j in s.scalars(select(jobs.Job).where(jobs.Job.name == "emails.send"))
        }
    )
    deploy = email_jobs["Deployment failed: api"]
    token = unsubscribe_token(settings, user.id, "deployment_failed")
    link = f"http://testserver/unsubscribe/{token}"
    assert deploy["headers"] == {
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert deploy["context"]["unsubscribe_url"] == link
    cancelled = email_jobs["Gala is cancelled"]
    assert cancelled.get("headers") in (None, {})  # transactional: no unsubscribe
    assert cancelled["context"]["unsubscribe_url"] is None
    mail = db.query(
        lambda s: s.scalars(
            select(EmailDelivery.text_body).where(EmailDelivery.subject == "Deployment failed: api")
        ).one()
    )
    assert link in (mail or "")

    # GET shows a confirm page and changes nothing (link scanners fetch GETs)
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert "deployment failed" in page.text
    assert "form" in page.text
    assert "script" not in page.text

    def prefs_of() -> set[tuple[str, bool]]:
        return db.query(
            lambda s: {(p.kind, p.email) for p in s.scalars(select(NotificationPreference))}
        )

    assert prefs_of() == set()
    # RFC 8058: the mail client POSTs, without any sign-in
    done = client.post(
        f"/unsubscribe/{token}",
        content="List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200
    assert "no longer" in done.text
    assert prefs_of() == {("deployment_failed", False)}
    # a tampered token, or one for a transactional kind, does nothing
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.post(f"/unsubscribe/{forged}").status_code == 404
    transactional = unsubscribe_token(settings, user.id, "event_cancelled")
    assert client.post(f"/unsubscribe/{transactional}").status_code == 404
    assert prefs_of() == {("deployment_failed", False)}
    # the next deployment failure: in-app still, no e-mail
    before = db.query(
        lambda s: s.scalar(
            select(func.count()).select_from(jobs.Job).where(jobs.Job.name == "emails.send")
        )
    )
    db.mutation(
        lambda s: outbox.notify(
            s, "deployment_failed", users=[user.id], data={"status": "crashed", "service": "api"}
        )
    )
    run_jobs()
    after = db.query(
        lambda s: s.scalar(
            select(func.count()).select_from(jobs.Job).where(jobs.Job.name == "emails.send")
        )
    )
    assert after == before
    assert _count(db, user_id=user.id, kind="deployment_failed") == 2


def test_event_reminder_cron_notifies_holders_once_a_day_before(
    db: Database, run_jobs: Callable[[], int]
) -> None:
    with db.session() as s:
        owner = make_user(s)
        org = make_organization(s, owner)
        soon = make_event(
            s, org, title="Tomorrow", starts_at=utcnow() + timedelta(hours=24, minutes=5)
        )
        later = make_event(s, org, title="Next week", starts_at=utcnow() + timedelta(days=7))
        holder = make_user(s)
        make_pass(s, soon, make_tier(s, soon), holder_user_id=holder.id)
        make_pass(s, later, make_tier(s, later), holder_user_id=holder.id)
    from admitone.notifications.jobs import REMINDERS

    for minutes in (0, 15):
        with time_machine.travel(utcnow() + timedelta(minutes=minutes)):
            db.mutation(lambda s: jobs.schedule(s, REMINDERS, {}))
            run_jobs()
    notes = db.query(
        lambda s: s.scalars(select(Notification).where(Notification.user_id == holder.id)).all()
    )
    assert [n.title for n in notes] == ["Tomorrow starts tomorrow"]
