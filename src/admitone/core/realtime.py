"""Topics published after commit, brokers that fan them out, and an SSE query helper.

Mutations mark topics with `db.publish(session, "event:evt_...:checkins")`; once the
transaction commits, the Database hands them to the broker. The in-process broker serves a
single process (the embedded default); the PostgreSQL broker sends NOTIFY and every process
LISTENs, so a scan on one process updates a dashboard served by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import psycopg
from sse_starlette import EventSourceResponse, ServerSentEvent

log = logging.getLogger(__name__)

CHANNEL = "admitone_topics"


@dataclass(eq=False)
class _Subscription:
    topics: frozenset[str]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))

    def offer(self, topic: str) -> None:
        if self.queue.full():  # a slow reader only needs to know that something changed
            return
        self.queue.put_nowait(topic)


class MemoryBroker:
    """Delivers topics to subscribers in this process; publish is safe from any thread."""

    def __init__(self) -> None:
        self._subs: set[_Subscription] = set()
        self._lock = threading.Lock()

    def publish(self, topics: Iterable[str]) -> None:
        self.deliver(topics)

    def deliver(self, topics: Iterable[str]) -> None:
        with self._lock:
            subs = list(self._subs)
        for topic in topics:
            for sub in subs:
                if topic in sub.topics:
                    with contextlib.suppress(RuntimeError):  # the loop has closed
                        sub.loop.call_soon_threadsafe(sub.offer, topic)

    @asynccontextmanager
    async def subscribe(self, topics: Iterable[str]) -> AsyncIterator[asyncio.Queue[str]]:
        await self._ensure_listening()
        sub = _Subscription(frozenset(topics), asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
        try:
            yield sub.queue
        finally:
            with self._lock:
                self._subs.discard(sub)

    async def _ensure_listening(self) -> None:
        return None

    def close(self) -> None:
        return None


class PostgresBroker(MemoryBroker):
    """NOTIFY on publish; one LISTEN connection per process feeds local subscribers."""

    def __init__(self, conninfo: str) -> None:
        super().__init__()
        self._conninfo = conninfo
        self._publish_conn: psycopg.Connection[Any] | None = None
        self._publish_lock = threading.Lock()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    def publish(self, topics: Iterable[str]) -> None:
        payload = list(topics)
        with self._publish_lock:
            for attempt in (1, 2):
                try:
                    if self._publish_conn is None or self._publish_conn.closed:
                        self._publish_conn = psycopg.connect(self._conninfo, autocommit=True)
                    for topic in payload:
                        self._publish_conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, topic))
                    return
                except psycopg.OperationalError:
                    self._publish_conn = None
                    if attempt == 2:
                        log.exception("could not publish %s", payload)

    async def _ensure_listening(self) -> None:
        if self._listener is None or self._listener.done():
            self._listening = asyncio.Event()
            self._listener = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._listening.wait(), timeout=10)

    async def _listen(self) -> None:
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    async for note in conn.notifies():
                        self.deliver([note.payload])
            except (psycopg.OperationalError, OSError):
                log.warning("LISTEN connection lost; reconnecting", exc_info=True)
                await asyncio.sleep(1)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
        if self._publish_conn is not None:
            self._publish_conn.close()


Broker = MemoryBroker


def stream_query(
    broker: Broker,
    topics: Iterable[str],
    fetch: Callable[[], Any],
    *,
    is_disconnected: Callable[[], Any] | None = None,
    ping_seconds: int = 15,
) -> EventSourceResponse:
    """An SSE response that sends `fetch()` now and again whenever a topic fires and the
    result changed. `fetch` is a sync query; it runs in the thread pool."""
    topic_set = list(topics)

    async def events() -> AsyncIterator[ServerSentEvent]:
        async with broker.subscribe(topic_set) as queue:
            last: str | None = None
            while True:
                body = json.dumps(
                    await anyio.to_thread.run_sync(fetch), default=str, sort_keys=True
                )
                if body != last:
                    last = body
                    yield ServerSentEvent(data=body, event="update")
                await queue.get()
                while not queue.empty():  # coalesce a burst into one re-query
                    queue.get_nowait()

    return EventSourceResponse(events(), ping=ping_seconds)
