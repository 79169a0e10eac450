"""Realtime: topics reach subscribers after commit, never after a rollback."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.orm import Session

from admitone.core.db import Database, publish
from admitone.core.realtime import MemoryBroker, PostgresBroker


async def _next(queue: asyncio.Queue[str], timeout: float = 2.0) -> str | None:
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except TimeoutError:
        return None


def _touch(topic: str, fail: bool):  # type: ignore[no-untyped-def]
    def mutation(session: Session) -> None:
        publish(session, topic)
        if fail:
            raise RuntimeError("rolled back")

    return mutation


def _scenario(db: Database, broker: MemoryBroker) -> tuple[str | None, str | None]:
    db.publisher = broker.publish

    async def run() -> tuple[str | None, str | None]:
        async with broker.subscribe(["event:evt_1:checkins"]) as queue:
            with pytest.raises(RuntimeError):
                await asyncio.to_thread(db.mutation, _touch("event:evt_1:checkins", True))
            after_rollback = await _next(queue, timeout=0.3)
            await asyncio.to_thread(db.mutation, _touch("event:evt_2:checkins", False))
            await asyncio.to_thread(db.mutation, _touch("event:evt_1:checkins", False))
            after_commit = await _next(queue)
            return after_rollback, after_commit

    return asyncio.run(run())


def test_subscriber_hears_a_commit_and_not_a_rollback(db: Database) -> None:
    after_rollback, after_commit = _scenario(db, MemoryBroker())
    assert after_rollback is None
    assert after_commit == "event:evt_1:checkins"


@pytest.mark.postgres
def test_postgres_broker_carries_topics_across_processes(
    committed_db: Database, database_url: str
) -> None:
    conninfo = database_url.replace("+psycopg", "")
    publisher, listener = PostgresBroker(conninfo), PostgresBroker(conninfo)
    committed_db.publisher = publisher.publish

    async def run() -> tuple[str | None, str | None]:
        async with listener.subscribe(["order:ord_1"]) as queue:
            with pytest.raises(RuntimeError):
                await asyncio.to_thread(committed_db.mutation, _touch("order:ord_1", True))
            after_rollback = await _next(queue, timeout=0.3)
            await asyncio.to_thread(committed_db.mutation, _touch("order:ord_1", False))
            return after_rollback, await _next(queue)

    try:
        assert asyncio.run(run()) == (None, "order:ord_1")
    finally:
        publisher.close()
        listener.close()


@pytest.mark.postgres
def test_postgres_broker_coalesces_a_burst_and_loses_no_topic(database_url: str) -> None:
    conninfo = database_url.replace("+psycopg", "")
    publisher, listener = PostgresBroker(conninfo, interval=0.3), PostgresBroker(conninfo)

    async def run() -> list[str]:
        async with listener.subscribe(["event:evt_1:checkins", "event:evt_2:checkins"]) as queue:
            for _ in range(200):  # a burst of scans at one event
                publisher.publish(["event:evt_1:checkins"])
            publisher.publish(["event:evt_2:checkins"])
            heard = []
            while (topic := await _next(queue, timeout=1.0)) is not None:
                heard.append(topic)
            return heard

    try:
        heard = asyncio.run(run())
    finally:
        publisher.close()
        listener.close()
    # The first publish is sent at once, the rest of the burst together a moment later.
    assert set(heard) == {"event:evt_1:checkins", "event:evt_2:checkins"}
    assert len(heard) <= 3


@pytest.mark.postgres
def test_postgres_broker_sends_what_was_published_before_close(database_url: str) -> None:
    conninfo = database_url.replace("+psycopg", "")
    publisher, listener = PostgresBroker(conninfo, interval=0.3), PostgresBroker(conninfo)

    async def run() -> list[str | None]:
        async with listener.subscribe(["order:ord_1", "order:ord_2"]) as queue:
            publisher.publish(["order:ord_1"])
            publisher.publish(["order:ord_2"])  # waits out the interval
            await asyncio.to_thread(publisher.close)
            return [await _next(queue), await _next(queue)]

    try:
        assert sorted(asyncio.run(run()), key=str) == ["order:ord_1", "order:ord_2"]
    finally:
        listener.close()
