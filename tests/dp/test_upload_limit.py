"""A body over the upload limit gets its 413 delivered over a real socket (uvicorn), also
while other uploads run: the server reads the rest of the body before it answers, so the
client, still sending, reads the answer instead of a connection reset."""

from __future__ import annotations

import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest

from tests.dp.conftest import Served, photo, served_world

BOUNDARY = "----admitone-test-boundary"


def _multipart(template_id: str, payload: bytes) -> bytes:
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="template_id"\r\n\r\n'
        f"{template_id}\r\n"
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + payload + f"\r\n--{BOUNDARY}--\r\n".encode()


def _raw_post(
    url: str, path: str, body: bytes, *, chunked: bool
) -> tuple[int, dict[str, str], bytes]:
    """Sends the whole body (like a phone's upload) then reads the answer, over a raw
    socket; a reset while sending or reading fails the test."""
    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=60) as sock:
        headers = [
            f"POST {path} HTTP/1.1",
            f"Host: {where.netloc}",
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        ]
        headers.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
        sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        step = 256 * 1024
        for at in range(0, len(body), step):
            part = body[at : at + step]
            sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            got = sock.recv(65536)
            assert got, "the server closed without an answer"
            answer += got
        head, _, rest = answer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        length = int(fields["content-length"])
        while len(rest) < length:
            got = sock.recv(65536)
            assert got, "the answer was cut"
            rest += got
        return status, fields, rest[:length]


@pytest.mark.committed
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_photo_gets_its_413_while_other_uploads_run(
    served: Served, chunked: bool
) -> None:
    world = served_world(served)
    path = f"/api/v1/dp-campaigns/{world.campaign['id']}/generate"
    big = _multipart(world.template["id"], b"\xff\xd8" + b"\x11" * (20 * 1024 * 1024))
    assert len(big) > served.settings.dp.max_upload_bytes
    stop = threading.Event()
    made: list[int] = []

    def upload_normally() -> None:
        with httpx.Client(base_url=served.url, timeout=60) as http:
            while True:  # at least one each, and more until the big uploads are answered
                r = http.post(
                    path,
                    files={"file": ("me.jpg", photo(1600, 1200), "image/jpeg")},
                    data={
                        "template_id": world.template["id"],
                        "texts": json.dumps({"name": "Ada"}),
                    },
                )
                made.append(r.status_code)
                if stop.is_set():
                    return

    with ThreadPoolExecutor(3) as pool:
        others = [pool.submit(upload_normally) for _ in range(3)]
        try:
            results = [_raw_post(served.url, path, big, chunked=chunked) for _ in range(2)]
        finally:
            stop.set()
        for f in others:
            f.result()
    for status, fields, body in results:
        assert status == 413
        assert fields["content-type"] == "application/problem+json"
        assert json.loads(body)["code"] == "file_too_large"
        assert fields.get("connection") != "close"  # drained: the connection stays usable
    assert made, "no concurrent upload ran"
    assert set(made) == {201}


@pytest.mark.committed
def test_a_body_far_over_the_bound_is_refused_without_reading_it(served: Served) -> None:
    world = served_world(served)
    path = f"/api/v1/dp-campaigns/{world.campaign['id']}/generate"
    where = urlsplit(served.url)
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: {where.netloc}\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                f"Content-Length: {10 * 1024**3}\r\n\r\n"
            ).encode()
        )
        answer = sock.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413")
    assert "connection: close" in answer.lower()
    assert '"file_too_large"' in answer
