"""Outgoing webhooks end to end: endpoints through the API, events emitted by a producer's
mutation, deliveries to a real local receiver verified by an independent implementation
of the Standard Webhooks check, retries with backoff on a controlled clock, 410, replays,
secret rotation and the address guard."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from admitone.core import jobs, outbox
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.jobs import Job
from admitone.notifications.models import Notification
from admitone.settings import Settings
from admitone.webhooks import signing
from admitone.webhooks.delivery import emit
from admitone.webhooks.models import WebhookDelivery
from tests.factories import add_team_member, auth_headers, make_user
from tests.webhooks.conftest import (
    BadSignature,
    Owner,
    Receiver,
    verify_standard_webhook,
)

ORDER = {
    "id": "ord_01JD3AAAAAAAAAAAAAAAAAAAAA",
    "status": "paid",
    "total": {"amount": 500, "currency": "NGN"},
}


def _create(client: TestClient, owner: Owner, url: str, events: list[str] | None = None) -> Any:
    r = client.post(
        f"/api/v1/organizations/{owner.org.id}/webhooks",
        headers=owner.headers,
        json={"url": url, "events": events or ["order.paid"]},
    )
    assert r.status_code == 201, r.text
    return r.json()


def _emit(db: Database, owner: Owner, type: str = "order.paid", data: Any = None) -> str:
    return db.mutation(lambda s: outbox.emit_event(s, type, owner.org.id, data or ORDER))


def _deliveries(db: Database) -> list[WebhookDelivery]:
    return db.query(
        lambda s: s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)).all()
    )


def test_event_is_delivered_signed_to_subscribed_endpoints_only(
    db: Database, client: TestClient, owner: Owner, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    made = _create(client, owner, receiver.url, ["order.paid"])
    assert made["secret"].startswith("whsec_")
    assert (
        "secret" not in client.get(f"/api/v1/webhooks/{made['id']}", headers=owner.headers).json()
    )
    everything = _create(client, owner, receiver.url + "/all", ["*"])
    msg_id = _emit(db, owner, "order.paid")
    _emit(db, owner, "checkin.accepted", {"id": "chk_1"})
    run_jobs()
    by_path: dict[str, list[Any]] = {}
    for got in receiver.received:
        by_path.setdefault(got.path, []).append(got)
    assert len(by_path["/hooks"]) == 1  # order.paid only
    assert len(by_path["/hooks/all"]) == 2
    got = by_path["/hooks"][0]
    assert got.headers["webhook-id"] == msg_id
    assert got.headers["content-type"] == "application/json"
    now = int(utcnow().timestamp())
    verify_standard_webhook(made["secret"], got.headers, got.body, now=now)
    with pytest.raises(BadSignature):
        verify_standard_webhook(everything["secret"], got.headers, got.body, now=now)
    with pytest.raises(BadSignature):
        verify_standard_webhook(made["secret"], got.headers, got.body + b" ", now=now)
    body = json.loads(got.body)
    assert body["id"] == msg_id
    assert body["type"] == "order.paid"
    assert body["data"] == ORDER
    assert body["created_at"]
    log = client.get(f"/api/v1/webhooks/{made['id']}/deliveries", headers=owner.headers).json()
    [entry] = log["items"]
    assert entry["status"] == "succeeded"
    assert entry["response_status"] == 200
    assert entry["response_ms"] >= 0
    assert entry["message_id"] == msg_id
    assert entry["type"] == "order.paid"


def test_rolled_back_mutation_emits_nothing(
    db: Database, client: TestClient, owner: Owner, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    _create(client, owner, receiver.url)

    def fails(session: Session) -> None:
        outbox.emit_event(session, "order.paid", owner.org.id, ORDER)
        raise RuntimeError("the order failed")

    with pytest.raises(RuntimeError):
        db.mutation(fails)
    run_jobs()
    assert receiver.received == []


def test_failures_are_retried_with_exponential_backoff_then_succeed(
    db: Database, client: TestClient, owner: Owner, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    made = _create(client, owner, receiver.url)
    receiver.answer(500, 503, 502)
    msg_id = _emit(db, owner)
    start = utcnow()
    with time_machine.travel(start, tick=False) as clock:
        run_jobs()
        waits = []
        for _ in range(3):
            [d] = _deliveries(db)
            assert d.status == "pending"
            assert d.next_attempt_at is not None
            waits.append((d.next_attempt_at - utcnow()).total_seconds())
            run_jobs()  # not due yet: nothing is sent
            assert len(receiver.received) == d.attempts
            clock.move_to(d.next_attempt_at + timedelta(milliseconds=1))
            run_jobs()
    [d] = _deliveries(db)
    assert d.status == "succeeded"
    assert d.attempts == 4
    # full jitter over 5 s * 2^(n-1): [2.5, 5], [5, 10], [10, 20]
    assert 2.5 <= waits[0] <= 5
    assert 5 <= waits[1] <= 10
    assert 10 <= waits[2] <= 20
    assert {r.headers["webhook-id"] for r in receiver.received} == {msg_id}
    assert made["status"] == "enabled"


def test_delivery_gives_up_after_three_days(
    db: Database, client: TestClient, owner: Owner, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    _create(client, owner, receiver.url)
    receiver.answer(*([500] * 40))
    _emit(db, owner)
    with time_machine.travel(utcnow(), tick=False) as clock:
        run_jobs()
        for _ in range(40):
            [d] = _deliveries(db)
            if d.status != "pending":
                break
            assert d.next_attempt_at is not None
            clock.move_to(d.next_attempt_at + timedelta(milliseconds=1))
            run_jobs()
        [d] = _deliveries(db)
        assert d.status == "failed"
        assert d.last_attempt_at is not None
        assert d.last_attempt_at - d.created_at <= timedelta(hours=72)
        assert d.last_attempt_at - d.created_at > timedelta(hours=60)


def test_410_disables_the_endpoint_and_notifies_the_owners(
    db: Database, client: TestClient, owner: Owner, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    made = _create(client, owner, receiver.url)
    receiver.answer(410)
    _emit(db, owner)
    _emit(db, owner)
    run_jobs()
    endpoint = client.get(f"/api/v1/webhooks/{made['id']}", headers=owner.headers).json()
    assert endpoint["status"] == "disabled"
    assert "410" in endpoint["disabled_reason"]
    assert len(receiver.received) == 1  # the second delivery is not attempted
    assert {d.status for d in _deliveries(db)} == {"failed"}
    notes = db.query(
        lambda s: s.scalars(select(Notification).where(Notification.user_id == owner.user.id)).all()
    )
    assert [n.kind for n in notes] == ["webhook_disabled"]
    # replay on a disabled endpoint is refused; enabling it again works
    [first, _] = _deliveries(db)
    refused = client.post(f"/api/v1/webhook-deliveries/{first.id}/replay", headers=owner.headers)
    assert refused.status_code == 422
    assert refused.json()["code"] == "webhook_endpoint_disabled"
    again = client.patch(
        f"/api/v1/webhooks/{made['id']}", headers=owner.headers, json={"enabled": True}
    )
    assert again.json()["status"] == "enabled"


def test_replay_keeps_the_webhook_id_and_replay_since_resends_the_window(
    db: Database, client: TestClient, owner: Owner, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    made = _create(client, owner, receiver.url, ["order.paid", "order.refunded"])
    old = _emit(db, owner)
    run_jobs()
    [first] = _deliveries(db)
    with time_machine.travel(utcnow() + timedelta(seconds=5)):
        replay = client.post(f"/api/v1/webhook-deliveries/{first.id}/replay", headers=owner.headers)
        assert replay.status_code == 202
        assert replay.json()["message_id"] == old
        assert replay.json()["is_replay"] is True
        run_jobs()
    assert [r.headers["webhook-id"] for r in receiver.received] == [old, old]
    assert (
        receiver.received[0].headers["webhook-timestamp"]
        != receiver.received[1].headers["webhook-timestamp"]
    )
    for r in receiver.received:
        verify_standard_webhook(
            made["secret"], r.headers, r.body, now=int(r.headers["webhook-timestamp"])
        )

    since = utcnow() + timedelta(seconds=1)
    with time_machine.travel(utcnow() + timedelta(seconds=10)):
        newer = _emit(db, owner, "order.refunded")
        _emit(db, owner, "checkin.accepted")  # not subscribed
        run_jobs()
        receiver.received.clear()
        r = client.post(
            f"/api/v1/webhooks/{made['id']}/replay",
            headers=owner.headers,
            json={"since": since.isoformat()},
        )
        assert r.json() == {"queued": 1}
        run_jobs()
    assert [x.headers["webhook-id"] for x in receiver.received] == [newer]
    naive = client.post(
        f"/api/v1/webhooks/{made['id']}/replay",
        headers=owner.headers,
        json={"since": "2026-01-01T00:00:00"},
    )
    assert naive.status_code == 422


def test_rotated_secret_signs_with_both_for_a_day(
    db: Database, client: TestClient, owner: Owner, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    made = _create(client, owner, receiver.url)
    rotated = client.post(
        f"/api/v1/webhooks/{made['id']}/rotate-secret", headers=owner.headers
    ).json()
    assert rotated["secret"] != made["secret"]
    _emit(db, owner)
    run_jobs()
    got = receiver.received[-1]
    now = int(utcnow().timestamp())
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    verify_standard_webhook(made["secret"], got.headers, got.body, now=now)
    verify_standard_webhook(rotated["secret"], got.headers, got.body, now=now)
    with time_machine.travel(utcnow() + timedelta(hours=25)):
        _emit(db, owner)
        run_jobs()
        got = receiver.received[-1]
        now = int(utcnow().timestamp())
        verify_standard_webhook(rotated["secret"], got.headers, got.body, now=now)
        with pytest.raises(BadSignature):
            verify_standard_webhook(made["secret"], got.headers, got.body, now=now)


def test_large_and_slow_answers_are_bounded(
    db: Database,
    settings: Settings,
    client: TestClient,
    owner: Owner,
    receiver: Receiver,
    run_jobs: Callable[[], int],
) -> None:
    _create(client, owner, receiver.url)
    receiver.answer(200, body=b"x" * 5_000_000)
    _emit(db, owner)
    run_jobs()
    [d] = _deliveries(db)
    assert d.status == "succeeded"
    assert d.response_excerpt is not None
    assert len(d.response_excerpt) <= 1000


def test_access_and_bad_input(
    db: Database, settings: Settings, client: TestClient, owner: Owner, receiver: Receiver
) -> None:
    base = f"/api/v1/organizations/{owner.org.id}/webhooks"
    with db.session() as s:
        door = make_user(s)
        add_team_member(s, owner.org, door, "door_staff")
        stranger = make_user(s)
        door_h, stranger_h = auth_headers(s, settings, door), auth_headers(s, settings, stranger)
    body = {"url": receiver.url, "events": ["order.paid"]}
    assert client.post(base, json=body).status_code == 401
    denied = client.post(base, json=body, headers=door_h)
    assert denied.status_code == 403
    assert denied.json()["capability"] == "webhook.manage"
    assert client.post(base, json=body, headers=stranger_h).status_code == 404
    made = _create(client, owner, receiver.url)
    assert client.get(f"/api/v1/webhooks/{made['id']}", headers=stranger_h).json()["code"] == (
        "webhook_endpoint_not_found"
    )
    unknown = client.post(base, headers=owner.headers, json={**body, "events": ["order.eaten"]})
    assert unknown.json()["code"] == "unknown_event_type"
    for url in ("ftp://example.com/x", "not a url", "http://"):
        bad = client.post(base, headers=owner.headers, json={**body, "url": url})
        assert bad.status_code == 422, url
        assert bad.json()["code"] == "invalid_webhook_url"
    listed = client.get(base, headers=owner.headers).json()
    assert [e["id"] for e in listed["items"]] == [made["id"]]
    assert client.delete(f"/api/v1/webhooks/{made['id']}", headers=owner.headers).status_code == 204
    assert client.get(f"/api/v1/webhooks/{made['id']}", headers=owner.headers).status_code == 404


def test_endpoint_failing_for_days_is_disabled(
    db: Database, client: TestClient, owner: Owner, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    made = _create(client, owner, receiver.url)
    receiver.answer(500, 500, 500)  # every attempt fails, the retry and the new one too
    _emit(db, owner)
    run_jobs()  # the first failure marks the endpoint failing from now
    with time_machine.travel(utcnow() + timedelta(hours=121), tick=False):
        _emit(db, owner)
        run_jobs()
    endpoint = client.get(f"/api/v1/webhooks/{made['id']}", headers=owner.headers).json()
    assert endpoint["status"] == "disabled"
    assert endpoint["disabled_reason"] == "failing for days"


def test_a_batch_with_a_success_keeps_a_long_failing_endpoint_enabled(
    db: Database, client: TestClient, owner: Owner, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    """Days after the first failure, one batch where a delivery fails and another succeeds:
    the endpoint is alive, so it stays enabled (the verdict does not depend on the order the
    answers are recorded in); the old delivery, past its 3 days of retries, is given up."""
    made = _create(client, owner, receiver.url)
    receiver.answer(500, 500)  # the first attempt, then the older of the two at +121 h
    _emit(db, owner)
    run_jobs()
    message = {"id": "msg_2", "type": "order.paid", "organization_id": owner.org.id}
    with time_machine.travel(utcnow() + timedelta(hours=121), tick=False):
        # Stored directly, so both deliveries are due when the endpoint's job runs.
        db.mutation(
            lambda s: emit(s, {**message, "created_at": utcnow().isoformat(), "data": ORDER})
        )
        run_jobs()
        found = _deliveries(db)
    endpoint = client.get(f"/api/v1/webhooks/{made['id']}", headers=owner.headers).json()
    assert endpoint["status"] == "enabled"
    assert [d.status for d in found] == ["failed", "succeeded"]
    assert [d.response_status for d in found] == [500, 200]


def test_a_success_clears_the_failing_streak(
    db: Database, client: TestClient, owner: Owner, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    made = _create(client, owner, receiver.url)
    receiver.answer(500)
    _emit(db, owner)
    run_jobs()
    with time_machine.travel(utcnow() + timedelta(hours=100), tick=False):
        _emit(db, owner)  # 200: the streak ends
        run_jobs()
    with time_machine.travel(utcnow() + timedelta(hours=121), tick=False):
        receiver.answer(500)
        _emit(db, owner)
        run_jobs()
    endpoint = client.get(f"/api/v1/webhooks/{made['id']}", headers=owner.headers).json()
    assert endpoint["status"] == "enabled"


def _deliver_jobs(db: Database) -> list[Job]:
    return db.query(lambda s: s.scalars(select(Job).where(Job.name == "webhooks.deliver")).all())


def test_an_endpoints_deliveries_go_out_in_batches_through_one_job(
    db: Database, client: TestClient, owner: Owner, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    made = _create(client, owner, receiver.url)
    ids = db.mutation(
        lambda s: [outbox.emit_event(s, "order.paid", owner.org.id, ORDER) for _ in range(60)]
    )
    run_jobs()  # the 60 emit jobs, then the endpoint's one deliver job
    [job] = _deliver_jobs(db)
    assert job.status == "done"
    # Every event once (no order is promised: the emit jobs may run in any order).
    assert sorted(r.headers["webhook-id"] for r in receiver.received) == sorted(ids)
    assert {d.status for d in _deliveries(db)} == {"succeeded"}
    now = int(utcnow().timestamp())
    for got in receiver.received:
        verify_standard_webhook(made["secret"], got.headers, got.body, now=now)
    _emit(db, owner)  # the same job row is queued again for the next event
    run_jobs()
    [job] = _deliver_jobs(db)
    assert job.status == "done"
    assert len(receiver.received) == 61


def test_a_down_endpoint_is_probed_once_per_retry_not_once_per_delivery(
    db: Database, client: TestClient, owner: Owner, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    made = _create(client, owner, receiver.url)
    client.patch(
        f"/api/v1/webhooks/{made['id']}",
        headers=owner.headers,
        json={"url": "http://127.0.0.1:9/closed"},  # nothing listens: connection refused
    )
    for _ in range(5):
        _emit(db, owner)
    with time_machine.travel(utcnow(), tick=False) as clock:
        run_jobs()
        found = _deliveries(db)
        assert sorted(d.attempts for d in found) == [0, 0, 0, 0, 1]
        assert {d.status for d in found} == {"pending"}
        [retry_at] = {d.next_attempt_at for d in found}  # the rest wait with the probe
        assert retry_at is not None
        client.patch(
            f"/api/v1/webhooks/{made['id']}", headers=owner.headers, json={"url": receiver.url}
        )
        clock.move_to(retry_at + timedelta(milliseconds=1))
        run_jobs()
    assert {d.status for d in _deliveries(db)} == {"succeeded"}
    assert len(receiver.received) == 5


def test_the_sweep_requeues_deliveries_left_by_a_dead_worker(
    db: Database, client: TestClient, owner: Owner, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    _create(client, owner, receiver.url)
    message = {"id": "msg_1", "type": "order.paid", "organization_id": owner.org.id}

    def worker_died(s: Session) -> None:  # its claim (a lease) stays, its job is gone
        emit(s, {**message, "created_at": utcnow().isoformat(), "data": ORDER})
        s.execute(update(WebhookDelivery).values(next_attempt_at=utcnow() + timedelta(minutes=5)))
        s.execute(delete(Job).where(Job.name == "webhooks.deliver"))

    db.mutation(worker_died)
    run_jobs()
    assert receiver.received == []
    with time_machine.travel(utcnow() + timedelta(minutes=6), tick=False):
        db.mutation(lambda s: jobs.schedule(s, "webhooks.sweep"))
        run_jobs()
    assert len(receiver.received) == 1


def test_a_new_signing_secret_is_32_random_bytes_in_the_standard_form() -> None:
    """Standard Webhooks: `whsec_` then the base64 of the key; ours are 256-bit keys, fresh
    each time (a shorter or longer key would still sign: only this test says which)."""
    made = {signing.new_secret() for _ in range(20)}
    assert len(made) == 20
    for secret in made:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
