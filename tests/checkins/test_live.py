"""Live door: stats that count a person once, undo, the door list, the scan log, and the
SSE stats stream served by a real server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from admitone.access.models import AuditEntry
from admitone.app import create_app
from admitone.core.db import Database
from admitone.passes import service as passes
from admitone.settings import Settings
from tests.checkins.conftest import Door, build_door


def _stats(door: Door) -> dict:  # type: ignore[type-arg]
    resp = door.client.get(f"/api/v1/events/{door.event.id}/checkins/stats", headers=door.viewer)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_stats_count_each_person_once_per_tier_and_checkpoint(door: Door) -> None:
    side = door.client.post(
        f"/api/v1/events/{door.event.id}/checkpoints", json={"name": "Side"}, headers=door.manager
    ).json()["id"]
    vip = door.new_pass(door.vip)
    door.scan(door.passes[0].code)
    door.scan(door.passes[0].code)  # a repeat
    door.scan(door.passes[0].code, checkpoint_id=side)  # the same person at another door
    door.scan(vip.code)
    stats = _stats(door)
    assert stats["checked_in"] == 2
    assert stats["expected"] == 4
    assert stats["by_tier"] == [
        {"tier_id": door.tier.id, "name": "Regular", "checked_in": 1, "expected": 3},
        {"tier_id": door.vip.id, "name": "VIP", "checked_in": 1, "expected": 1},
    ]
    by_cp = {c["name"]: c for c in stats["by_checkpoint"]}
    assert by_cp["Main entrance"]["checked_in"] == 2
    assert by_cp["Main entrance"]["inside"] is None  # no exits scanned there
    assert by_cp["Side"]["checked_in"] == 1


def test_revoked_passes_leave_expected(door: Door) -> None:
    with door.db.session() as session:
        passes.revoke_passes(session, order_id=door.passes[0].order_id, reason="refund")
    assert _stats(door)["expected"] == 2


def test_stats_need_event_read(door: Door) -> None:
    url = f"/api/v1/events/{door.event.id}/checkins/stats"
    assert door.client.get(url, headers=door.stranger).status_code == 404
    assert door.client.get(url).status_code == 401


def test_undo_lets_the_pass_in_again_and_is_audited(door: Door) -> None:
    code = door.passes[0].code
    accepted = door.scan(code).json()
    url = f"/api/v1/events/{door.event.id}/checkins/{accepted['check_in_id']}/undo"
    refused = door.client.post(url, headers=door.staff)
    assert refused.status_code == 403
    assert refused.json()["capability"] == "checkin.manage"
    undone = door.client.post(url, headers=door.manager)
    assert undone.status_code == 200, undone.text
    assert _stats(door)["checked_in"] == 0
    twice = door.client.post(url, headers=door.manager)
    assert twice.status_code == 409
    assert twice.json()["code"] == "check_in_already_undone"
    again = door.scan(code).json()
    assert again["result"] == "accepted"
    assert again["check_in_id"] != accepted["check_in_id"]
    assert door.result(code) == "already_checked_in"
    with door.db.session() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.target_id == accepted["check_in_id"])
        ).all()
    assert actions == ["check_in.undone"]


def test_undo_of_a_check_in_of_another_event_is_404(door: Door) -> None:
    accepted = door.scan(door.passes[0].code).json()
    other = build_door(door.client, door.db, door.settings)
    resp = door.client.post(
        f"/api/v1/events/{other.event.id}/checkins/{accepted['check_in_id']}/undo",
        headers=other.manager,
    )
    assert resp.status_code == 404
    assert resp.json()["code"] == "check_in_not_found"


def test_door_list_finds_by_name_email_and_code_with_paging(door: Door) -> None:
    url = f"/api/v1/events/{door.event.id}/checkins/door-list"
    door.scan(door.passes[1].code)
    by_name = door.client.get(url, params={"q": "guest 01"}, headers=door.staff).json()
    assert [i["pass_id"] for i in by_name["items"]] == [door.passes[1].id]
    assert by_name["items"][0]["checked_in_at"] is not None
    email = door.passes[2].attendee_email
    by_email = door.client.get(url, params={"q": email.upper()}, headers=door.staff).json()
    assert [i["pass_id"] for i in by_email["items"]] == [door.passes[2].id]
    code = door.passes[0].code
    by_code = door.client.get(
        url, params={"q": f"{code[:5]}-{code[5:]}".lower()}, headers=door.staff
    ).json()
    assert [i["pass_id"] for i in by_code["items"]] == [door.passes[0].id]
    assert door.client.get(url, params={"q": "%"}, headers=door.staff).json()["items"] == []
    page1 = door.client.get(url, params={"limit": 2}, headers=door.staff).json()
    page2 = door.client.get(
        url, params={"limit": 2, "cursor": page1["next_cursor"]}, headers=door.staff
    ).json()
    names = [i["attendee_name"] for i in page1["items"] + page2["items"]]
    assert names == ["Guest 00", "Guest 01", "Guest 02"]
    assert page2["next_cursor"] is None
    bad = door.client.get(url, params={"cursor": "bm9wZQ=="}, headers=door.staff)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_cursor"
    assert door.client.get(url, headers=door.viewer).status_code == 403


def test_scan_log_lists_every_scan_newest_first(door: Door) -> None:
    door.scan(door.passes[0].code)
    door.scan("JUNK")
    door.scan(door.passes[0].code)
    url = f"/api/v1/events/{door.event.id}/checkins/scans"
    first = door.client.get(url, params={"limit": 2}, headers=door.staff).json()
    rest = door.client.get(
        url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=door.staff
    ).json()
    results = [s["result"] for s in first["items"] + rest["items"]]
    assert results == ["already_checked_in", "invalid_code", "accepted"]


# --- SSE over a real server ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(settings: Settings, committed_db: Database) -> Iterator[str]:
    with _serve(create_app(settings, committed_db, run_worker=False)) as base:
        yield base


@contextmanager
def _serve(app: FastAPI) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.committed
def test_stats_stream_pushes_the_new_stats_after_a_scan(
    served: str, settings: Settings, committed_db: Database
) -> None:
    with httpx.Client(base_url=served, timeout=10) as http:
        door = build_door(http, committed_db, settings)  # type: ignore[arg-type]
        url = f"/api/v1/events/{door.event.id}/checkins/stats/stream"
        assert http.get(url, headers=door.stranger).status_code == 404
        with http.stream("GET", url, headers=door.viewer) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            updates = _updates(stream.iter_lines())
            assert next(updates)["checked_in"] == 0
            assert door.result(door.passes[0].code) == "accepted"
            # Pushed by the scan, not by a timer: the stream re-reads only when its topic
            # fires, and the client's read timeout (10 s, under the 15 s keep-alive ping)
            # bounds the wait; no elapsed-time bound, which flakes on a loaded box.
            pushed = next(updates)
            assert pushed["checked_in"] == 1


def _updates(lines: Iterator[str]) -> Iterator[dict]:  # type: ignore[type-arg]
    for line in lines:
        if line.startswith("data:"):
            yield json.loads(line.removeprefix("data:").strip())


@pytest.mark.postgres
@pytest.mark.committed
def test_stats_stream_hears_a_scan_made_by_another_process(
    settings: Settings, committed_db: Database, engine: Engine
) -> None:
    """Two apps with their own brokers, as two processes would be: the scan commits on one,
    its NOTIFY reaches the stream served by the other (no timer re-reads the stats)."""
    pg = settings.model_copy(
        update={
            "realtime_backend": "postgres",
            "database_url": engine.url.render_as_string(hide_password=False),
        }
    )
    streaming = create_app(pg, committed_db, run_worker=False)
    scanning = create_app(pg, Database(engine), run_worker=False)
    with (
        _serve(streaming) as base,
        httpx.Client(base_url=base, timeout=10) as http,
        TestClient(scanning) as other,
    ):
        door = build_door(other, committed_db, settings)
        url = f"/api/v1/events/{door.event.id}/checkins/stats/stream"
        with http.stream("GET", url, headers=door.viewer) as stream:
            updates = _updates(stream.iter_lines())
            assert next(updates)["checked_in"] == 0
            assert door.result(door.passes[0].code) == "accepted"
            # Pushed through NOTIFY (the streaming app never saw the scan): see above for
            # why the read timeout, not an elapsed-time bound, limits the wait.
            assert next(updates)["checked_in"] == 1
