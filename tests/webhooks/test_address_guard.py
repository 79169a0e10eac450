"""Targets that resolve to private, loopback or link-local addresses are refused outside
development: when the endpoint is saved (literal addresses) and on every attempt, after
DNS resolution and again on each redirect."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from admitone.app import create_app
from admitone.core import jobs, outbox
from admitone.core.db import Database
from admitone.integrations import webhooks_http
from admitone.settings import Settings
from admitone.webhooks.models import WebhookDelivery
from tests.webhooks.conftest import Owner, Receiver


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost/x",
        "http://10.1.2.3/x",
        "http://192.168.0.10/x",
        "http://172.16.5.4/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[fe80::1]/x",
        "http://[fd00::1]/x",
        "http://0.0.0.0/x",
        "http://100.64.0.1/x",
    ],
)
def test_non_public_addresses_are_refused(url: str) -> None:
    if "127.0.0.1" not in url and "localhost" not in url and "::1]" not in url:
        with pytest.raises(webhooks_http.TargetRefused):  # not even in dev
            webhooks_http.resolve(httpx.URL(url), allow_loopback=True)
    with pytest.raises(webhooks_http.TargetRefused):
        webhooks_http.resolve(httpx.URL(url), allow_loopback=False)


def test_public_address_is_accepted_and_pinned() -> None:
    address = webhooks_http.resolve(httpx.URL("https://93.184.215.14/x"), allow_loopback=False)
    assert str(address) == "93.184.215.14"


def _production(settings: Settings) -> Settings:
    return settings.model_copy(update={"env": "production"})


def test_production_refuses_private_targets_when_saved(
    settings: Settings, db: Database, owner: Owner
) -> None:
    app = create_app(_production(settings), db, run_worker=False)
    base = f"/api/v1/organizations/{owner.org.id}/webhooks"
    with TestClient(app, raise_server_exceptions=False) as client:
        for url in (
            "https://127.0.0.1/hooks",
            "https://localhost/hooks",
            "https://10.0.0.7/hooks",
            "https://[::1]/hooks",
            "http://example.com/hooks",  # plain http outside dev
        ):
            r = client.post(base, headers=owner.headers, json={"url": url, "events": ["*"]})
            assert r.status_code == 422, url
            assert r.json()["code"] == "invalid_webhook_url"
        ok = client.post(
            base, headers=owner.headers, json={"url": "https://example.com/h", "events": ["*"]}
        )
        assert ok.status_code == 201


def test_production_refuses_a_name_that_resolves_to_loopback_at_delivery(
    settings: Settings,
    db: Database,
    client: TestClient,
    owner: Owner,
    receiver: Receiver,
) -> None:
    # Saved in dev (allowed there), delivered by a production worker: refused after DNS.
    by_name = receiver.url.replace("127.0.0.1", "localhost")
    made = client.post(
        f"/api/v1/organizations/{owner.org.id}/webhooks",
        headers=owner.headers,
        json={"url": by_name, "events": ["*"]},
    ).json()
    db.mutation(lambda s: outbox.emit_event(s, "order.paid", owner.org.id, {"id": "ord_1"}))
    jobs.drain(db, _production(settings))
    assert receiver.received == []
    [d] = db.query(lambda s: s.scalars(select(WebhookDelivery)).all())
    assert d.endpoint_id == made["id"]
    assert d.response_status is None
    assert d.last_error is not None
    assert d.last_error.startswith("refused:")
    assert d.status == "pending"  # retried later: DNS answers change


def test_redirects_are_followed_only_when_they_keep_the_body_and_are_checked(
    db: Database,
    client: TestClient,
    owner: Owner,
    receiver: Receiver,
    run_jobs: Callable[[], int],
) -> None:
    client.post(
        f"/api/v1/organizations/{owner.org.id}/webhooks",
        headers=owner.headers,
        json={"url": receiver.url, "events": ["*"]},
    )
    receiver.answer(308, Location="/moved")
    db.mutation(lambda s: outbox.emit_event(s, "order.paid", owner.org.id, {"id": "ord_1"}))
    run_jobs()
    assert [r.path for r in receiver.received] == ["/hooks", "/moved"]
    assert receiver.received[0].body == receiver.received[1].body
    # dev admits loopback only: a redirect from the local receiver to a private or
    # link-local address is checked and refused, and nothing is sent there
    receiver.received.clear()
    for target in ("http://10.255.255.1/x", "http://169.254.169.254/latest/meta-data"):
        receiver.answer(307, Location=target)
        with (
            httpx.Client(follow_redirects=False) as http,
            pytest.raises(webhooks_http.TargetRefused),
        ):
            webhooks_http.post(
                http,
                receiver.url,
                content=b"{}",
                headers={},
                allow_loopback=True,
                timeout=httpx.Timeout(2),
            )
    assert len(receiver.received) == 2  # the two first hops, nothing beyond
