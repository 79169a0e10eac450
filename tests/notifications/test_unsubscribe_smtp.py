"""The e-mail copy as a real SMTP server receives it: RFC 8058 headers on a
non-transactional kind, none on a transactional one, and the link in the body works."""

from __future__ import annotations

from fastapi.testclient import TestClient

from admitone.core import jobs, outbox
from admitone.core.db import Database
from admitone.settings import Settings
from tests.emails.conftest import Inbox, smtp, with_mail  # noqa: F401 (fixture)
from tests.factories import auth_headers, make_user


def test_smtp_message_carries_one_click_unsubscribe_only_when_not_transactional(
    db: Database,
    settings: Settings,
    client: TestClient,
    smtp: Inbox,  # noqa: F811
) -> None:
    with db.session() as s:
        user = make_user(s)
        headers = auth_headers(s, settings, user)
    db.mutation(
        lambda s: outbox.notify(
            s, "event_reminder", users=[user.id], data={"event_title": "Gala", "starts_at": "8pm"}
        )
    )
    db.mutation(
        lambda s: outbox.notify(s, "event_cancelled", users=[user.id], data={"event_title": "Gala"})
    )
    jobs.drain(db, with_mail(settings, transport="smtp", smtp_port=smtp.port))
    by_subject = {m["Subject"]: m for m in smtp.messages}
    reminder = by_subject["Gala starts tomorrow"]
    assert reminder["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = reminder["List-Unsubscribe"].strip("<>")
    assert link.startswith("http://testserver/unsubscribe/")
    assert reminder["To"] == user.email
    cancelled = by_subject["Gala is cancelled"]
    assert cancelled["List-Unsubscribe"] is None
    assert cancelled["List-Unsubscribe-Post"] is None
    # the header's URL is the one-click endpoint: a POST without any credentials
    done = client.post(
        link.removeprefix("http://testserver"),
        content="List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200
    prefs = {
        p["kind"]: p
        for p in client.get("/api/v1/me/notification-preferences", headers=headers).json()["items"]
    }
    assert prefs["event_reminder"]["email"] is False
    assert prefs["event_changed"]["email"] is True
