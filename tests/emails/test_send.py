"""The `emails.send` job: rendering, transports (dev mailbox, real SMTP, HTTP provider),
the delivery log, retries and idempotency."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from cryptography.fernet import InvalidToken
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from admitone.app import create_app
from admitone.core import jobs
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.jobs import Job, JobContext
from admitone.emails.jobs import send_email
from admitone.emails.models import EmailDelivery
from admitone.emails.render import UnknownTemplate, render, template_names
from admitone.emails.service import queue_email, seal, unseal
from admitone.settings import Settings
from tests.emails.conftest import Inbox, Provider, free_port, with_mail


def _queue(db: Database, to: str, url: str = "https://app.admitone.test/x?token=t") -> None:
    db.mutation(
        lambda s: queue_email(s, to=to, template="magic_link", context={"url": url, "minutes": 15})
    )


def _deliveries(db: Database) -> list[EmailDelivery]:
    return list(db.query(lambda s: s.scalars(select(EmailDelivery)).all()))


def _jobs(db: Database) -> list[Job]:
    return list(db.query(lambda s: s.scalars(select(Job)).all()))


def test_dev_mailbox_shows_sent_mail_newest_first_per_recipient(
    client: TestClient, db: Database, run_jobs: Callable[[], int]
) -> None:
    _queue(db, "a@example.com", "https://app.admitone.test/first")
    run_jobs()
    _queue(db, "a@example.com", "https://app.admitone.test/second")
    _queue(db, "b@example.com")
    run_jobs()
    items = client.get("/dev/mailbox", params={"to": "A@Example.com"}).json()["items"]
    assert [("second" in i["text"], i["to"]) for i in items] == [
        (True, "a@example.com"),
        (False, "a@example.com"),
    ]
    assert set(items[0]) == {"id", "to", "subject", "text", "html", "attachments", "sent_at"}
    assert items[0]["subject"] == "Your Admit One sign-in link"
    assert len(client.get("/dev/mailbox").json()["items"]) == 3


def test_html_part_is_escaped_and_text_part_is_not(
    client: TestClient, db: Database, run_jobs: Callable[[], int]
) -> None:
    _queue(db, "x@example.com", 'https://app.admitone.test/?q="><script>alert(1)</script>')
    run_jobs()
    mail = client.get("/dev/mailbox", params={"to": "x@example.com"}).json()["items"][0]
    assert "<script>" in mail["text"]
    assert "<script>" not in mail["html"]
    assert "&lt;script&gt;" in mail["html"]


def test_dev_mailbox_pages_and_refuses_made_up_cursors(
    client: TestClient, db: Database, run_jobs: Callable[[], int]
) -> None:
    for i in range(3):
        _queue(db, "page@example.com", f"https://app.admitone.test/{i}")
    run_jobs()
    first = client.get("/dev/mailbox", params={"to": "page@example.com", "limit": 2}).json()
    assert len(first["items"]) == 2
    rest = client.get(
        "/dev/mailbox",
        params={"to": "page@example.com", "limit": 2, "cursor": first["next_cursor"]},
    ).json()
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    ids = [i["id"] for i in first["items"] + rest["items"]]
    assert len(set(ids)) == 3
    for cursor in ("garbage", "WyJub3QtYS1kYXRlIiwgIngiXQ==", "W10="):
        resp = client.get("/dev/mailbox", params={"cursor": cursor})
        assert resp.status_code == 422
        assert resp.json()["code"] == "invalid_cursor"


def test_dev_mailbox_does_not_exist_outside_dev(settings: Settings, db: Database) -> None:
    app = create_app(settings.model_copy(update={"env": "test"}), db, run_worker=False)
    with TestClient(app) as c:
        assert c.get("/dev/mailbox").status_code == 404


def test_smtp_delivery_through_a_real_server(db: Database, settings: Settings, smtp: Inbox) -> None:
    smtp_settings = with_mail(settings, transport="smtp", smtp_port=smtp.port)
    _queue(db, "reader@example.com")
    assert jobs.drain(db, smtp_settings) == 1
    assert smtp.recipients == [["reader@example.com"]]
    message = smtp.messages[0]
    assert message["Subject"] == "Your Admit One sign-in link"
    assert message["From"] == "Admit One <no-reply@admitone.local>"
    job_id = _jobs(db)[0].id
    assert message["Message-ID"] == f"<{job_id}@admitone.local>"
    parts = {p.get_content_type() for p in message.walk()}
    assert {"text/plain", "text/html"} <= parts
    (delivery,) = _deliveries(db)
    assert (delivery.status, delivery.transport, delivery.attempts) == ("sent", "smtp", 1)
    assert delivery.sent_at is not None
    # outside the dev mailbox the log keeps no bodies (they may hold live codes)
    assert delivery.text_body is None
    assert delivery.html_body is None


def test_smtp_outage_is_logged_and_retried_until_sent_once(
    db: Database, settings: Settings, smtp: Inbox
) -> None:
    down = with_mail(settings, transport="smtp", smtp_port=free_port(), timeout_seconds=2)
    _queue(db, "patient@example.com")
    jobs.drain(db, down)
    (job,) = _jobs(db)
    assert (job.status, job.attempts) == ("queued", 1)
    (delivery,) = _deliveries(db)
    assert delivery.status == "failed"
    assert delivery.last_error is not None
    assert "SMTP" in delivery.last_error

    up = with_mail(settings, transport="smtp", smtp_port=smtp.port)
    with time_machine.travel(utcnow() + timedelta(minutes=5)):
        jobs.drain(db, up)
    assert len(smtp.messages) == 1
    (delivery,) = _deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, None)
    assert _jobs(db)[0].status == "done"


def test_a_job_that_runs_again_after_sending_does_not_send_twice(
    db: Database, settings: Settings, smtp: Inbox
) -> None:
    smtp_settings = with_mail(settings, transport="smtp", smtp_port=smtp.port)
    ctx = JobContext(db, smtp_settings, "job_01JD3000000000000000000000", 1)
    args = {
        "to": "once@example.com",
        "template": "magic_link",
        "context": {"url": "u", "minutes": 1},
    }
    send_email(ctx, **args)
    # the worker died before marking the job done; another worker reclaims and reruns it
    send_email(JobContext(db, smtp_settings, ctx.job_id, 2), **args)
    assert len(smtp.messages) == 1
    assert len(_deliveries(db)) == 1


def test_http_provider_gets_json_with_an_idempotency_key_and_is_retried(
    db: Database, settings: Settings, provider: Provider
) -> None:
    http_settings = with_mail(
        settings, transport="http", http_url=provider.url, http_token="provider-token"
    )
    provider.fail_next = 1
    _queue(db, "api@example.com")
    jobs.drain(db, http_settings)
    assert provider.requests == []
    assert _deliveries(db)[0].status == "failed"
    with time_machine.travel(utcnow() + timedelta(minutes=5)):
        jobs.drain(db, http_settings)
    ((headers, body),) = provider.requests
    assert headers["Authorization"] == "Bearer provider-token"
    assert headers["Idempotency-Key"] == f"<{_jobs(db)[0].id}@admitone.local>"
    assert body["to"] == "api@example.com"
    assert body["subject"] == "Your Admit One sign-in link"
    assert body["text"]
    assert body["html"]
    delivery = _deliveries(db)[0]
    assert (delivery.status, delivery.provider_message_id) == ("sent", "prov-1")


def test_unknown_template_fails_the_job_with_a_logged_reason(
    db: Database, run_jobs: Callable[[], int]
) -> None:
    db.mutation(lambda s: queue_email(s, to="t@example.com", template="no_such", context={}))
    run_jobs()
    (delivery,) = _deliveries(db)
    assert delivery.status == "failed"
    assert "UnknownTemplate" in (delivery.last_error or "")
    assert _jobs(db)[0].status == "queued"  # retried: a deploy may bring the template


@pytest.mark.parametrize("name", ["../secrets", "Sign_In", "a/b", ""])
def test_template_names_cannot_escape_the_template_folder(name: str) -> None:
    with pytest.raises(UnknownTemplate):
        render(name, {})


def test_missing_context_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(Exception, match="minutes"):
        render("sign_in_code", {"code": "123456"})


def test_subject_is_one_line_whatever_the_context() -> None:
    rendered = render("sign_in_code", {"code": "1\r\nBcc: victim@example.com", "minutes": 1})
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject


def test_sealed_context_opens_only_with_the_server_secret(settings: Settings) -> None:
    sealed = seal(settings, {"code": "123456"})
    assert "123456" not in sealed
    assert unseal(settings, {"sealed": sealed, "minutes": 10}) == {"code": "123456", "minutes": 10}
    other = settings.model_copy(update={"secret_key": SecretStr("another-server-secret-0123456")})
    with pytest.raises(InvalidToken):
        unseal(other, {"sealed": sealed})


def test_the_identity_templates_exist_in_every_part() -> None:
    assert {"sign_in_code", "magic_link"} <= set(template_names())
    for name in ("sign_in_code", "magic_link"):
        rendered = render(name, {"code": "123456", "url": "https://x", "minutes": 10})
        assert rendered.html is not None
        assert rendered.text.strip()


def test_a_rolled_back_mutation_sends_nothing(
    client: TestClient, db: Database, run_jobs: Callable[[], int]
) -> None:
    def place_then_fail(session: object) -> None:
        queue_email(
            session,  # type: ignore[arg-type]
            to="never@example.com",
            template="magic_link",
            context={"url": "u", "minutes": 1},
        )
        raise RuntimeError("the business change failed")

    with pytest.raises(RuntimeError):
        db.mutation(place_then_fail)
    assert run_jobs() == 0
    assert client.get("/dev/mailbox", params={"to": "never@example.com"}).json()["items"] == []
