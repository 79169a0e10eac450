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
import time
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
    """NOTIFY on publish; one LISTEN connection per process feeds local subscribers.

    Publishing only records the topics; a sender thread NOTIFYs them, at once when it is
    idle and at most once per `interval` per topic under load. A burst of 600 scans a
    second then costs a few NOTIFYs instead of 600 extra transactions, each serialised on
    PostgreSQL's notification lock, and no request waits for one. Subscribers re-read the
    state on a topic, so one notification for many changes loses nothing.
    """

    def __init__(self, conninfo: str, interval: float = 0.05) -> None:
        super().__init__()
        self._conninfo = conninfo
        self._interval = interval
        self._pending: set[str] = set()
        self._wake = threading.Condition()
        self._closed = False
        self._sender: threading.Thread | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    def publish(self, topics: Iterable[str]) -> None:
        with self._wake:
            self._pending.update(topics)
            if self._sender is None:
                self._sender = threading.Thread(
                    target=self._send_loop, name="admitone-notify", daemon=True
                )
                self._sender.start()
            self._wake.notify()

    def _send_loop(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                topics, self._pending = sorted(self._pending), set()
                closed = self._closed
            if topics:
                conn = self._notify(conn, topics)
            if closed:
                break
            time.sleep(self._interval)
        if conn is not None:
            conn.close()

    def _notify(
        self, conn: psycopg.Connection[Any] | None, topics: list[str]
    ) -> psycopg.Connection[Any] | None:
        for attempt in (1, 2):
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self._conninfo, autocommit=True)
                with conn.transaction():  # one commit for the whole batch
                    for topic in topics:
                        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, topic))
                return conn
            except psycopg.OperationalError:
                conn = None
                if attempt == 2:
                    log.exception("could not publish %s", topics)
        return conn

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
        """Stops listening; topics published before this are still sent."""
        if self._listener is not None:
            self._listener.cancel()
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._sender is not None:
            self._sender.join(timeout=5)


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
