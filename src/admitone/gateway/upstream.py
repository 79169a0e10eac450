"""A lean HTTP/1.1 client for the gateway's upstream: keep-alive connections pooled per
event loop and upstream, requests written as bytes, answers parsed by `httptools` (the C
parser uvicorn uses), bodies streamed both ways with backpressure.

httpx (through httpcore) cost about 1 ms of CPU per proxied request here: URL and header
models, h11's validation, and a failed `import sniffio` per lock on every request
(bench/gateway.py, docs/performance.md). The gateway sends one kind of request to one
upstream it trusts, so this does only that.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

# An idle connection is dropped before the upstream's own keep-alive timeout (uvicorn: 5 s)
# can close it under a request.
IDLE_SECONDS = 4.0
MAX_IDLE = 20
READ_BYTES = 65536


class UpstreamFailed(Exception):
    """No answer could be had from the upstream (refused, reset, bad response)."""


class UpstreamSlow(Exception):
    """The upstream did not connect or answer within the timeout."""


@dataclass
class Answer:
    """The upstream's status and headers (lower-case names); the body comes from `body()`."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: Callable[[], AsyncIterator[bytes]]
    close: Callable[[], None]


class _Parsed:
    """httptools callbacks: the head, then body pieces as they arrive."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.done = False
        self.pieces: list[bytes] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.pieces.append(body)

    def on_message_complete(self) -> None:
        self.done = True


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, now: float) -> bool:
        return (
            not self.reader.at_eof()
            and not self.writer.is_closing()
            and now - self.idle_since < IDLE_SECONDS
        )

    def close(self) -> None:
        self.writer.close()


@dataclass
class Pool:
    """Keep-alive connections to one upstream base URL, for one event loop."""

    base_url: str
    tls: Callable[[], ssl.SSLContext]
    idle: list[_Conn] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/").encode()
        self.host_header = parts.netloc.encode()

    async def _connect(self, timeout: float) -> _Conn:
        try:
            async with asyncio.timeout(timeout):
                if self.https:
                    reader, writer = await asyncio.open_connection(
                        self.host, self.port, ssl=self.tls(), server_hostname=self.host
                    )
                else:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError as exc:
            raise UpstreamSlow() from exc
        except OSError as exc:
            raise UpstreamFailed(str(exc)) from exc
        return _Conn(reader, writer)

    def _checkout(self) -> _Conn | None:
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if conn.usable(now):
                return conn
            conn.close()
        return None

    def _checkin(self, conn: _Conn) -> None:
        if len(self.idle) >= MAX_IDLE:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    def close(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()

    async def request(
        self,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes] | None,
        *,
        timeout: float,
        connect_timeout: float,
    ) -> Answer:
        """Sends the request (`target`: path and query as sent upstream, after the base
        URL's own path; a body without `content-length` goes chunked) and returns once the
        answer's head has arrived. Raises `UpstreamSlow` or `UpstreamFailed`; anything the
        body iterator raises (a body over the limit) closes the connection and propagates."""
        conn = self._checkout() or await self._connect(connect_timeout)
        chunked = body is not None and not any(k == b"content-length" for k, _ in headers)
        head = [method.encode(), b" ", self.prefix, target, b" HTTP/1.1\r\nhost: "]
        head.append(self.host_header)
        for name, value in headers:
            head += (b"\r\n", name, b": ", value)
        if chunked:
            head.append(b"\r\ntransfer-encoding: chunked")
        head.append(b"\r\n\r\n")
        parsed = _Parsed()
        parser = httptools.HttpResponseParser(parsed)
        try:
            await _send(conn.writer, b"".join(head), body, chunked, timeout)
            async with asyncio.timeout(timeout):
                while not parsed.head_done:
                    data = await conn.reader.read(READ_BYTES)
                    if not data:
                        raise UpstreamFailed("the upstream closed the connection")
                    parser.feed_data(data)
        except TimeoutError as exc:
            conn.close()
            raise UpstreamSlow() from exc
        except (OSError, httptools.HttpParserError) as exc:
            conn.close()
            raise UpstreamFailed(str(exc)) from exc
        except BaseException:
            conn.close()
            raise
        status = parser.get_status_code()
        finished = False

        async def stream() -> AsyncIterator[bytes]:
            nonlocal finished
            try:
                while True:
                    if parsed.pieces:
                        pieces, parsed.pieces = parsed.pieces, []
                        for piece in pieces:
                            yield piece
                    if parsed.done:
                        break
                    async with asyncio.timeout(timeout):
                        data = await conn.reader.read(READ_BYTES)
                    if not data:
                        if not _close_delimited(parsed.headers):
                            raise UpstreamFailed("the upstream broke off mid-body")
                        break  # a body without length or chunks ends with the connection
                    parser.feed_data(data)
            except (TimeoutError, OSError, httptools.HttpParserError) as exc:
                raise UpstreamFailed(str(exc)) from exc
            finished = True

        def release() -> None:
            if finished and parser.should_keep_alive() and not conn.reader.at_eof():
                self._checkin(conn)
            else:
                conn.close()

        return Answer(status, parsed.headers, stream, release)


def _close_delimited(headers: list[tuple[bytes, bytes]]) -> bool:
    return not any(k in (b"content-length", b"transfer-encoding") for k, _ in headers)


async def _send(
    writer: asyncio.StreamWriter,
    head: bytes,
    body: AsyncIterator[bytes] | None,
    chunked: bool,
    timeout: float,
) -> None:
    """Writes the head with the body's first piece (one write for a small request), then
    the rest piece by piece, waiting for the socket to drain after each (flat memory)."""
    pending = head
    if body is not None:
        async for piece in body:
            if not piece:
                continue
            if chunked:
                piece = b"%x\r\n%b\r\n" % (len(piece), piece)
            writer.write(pending + piece if pending else piece)
            pending = b""
            await _drained(writer, timeout)
        if chunked:
            pending += b"0\r\n\r\n"
    if pending:
        writer.write(pending)
    await _drained(writer, timeout)


async def _drained(writer: asyncio.StreamWriter, timeout: float) -> None:
    if not writer.transport.get_write_buffer_size():
        return  # all handed to the kernel already: nothing to wait for
    async with asyncio.timeout(timeout):
        await writer.drain()
