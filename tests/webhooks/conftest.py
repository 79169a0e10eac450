"""A real HTTP receiver on a random local port, an independent Standard Webhooks verifier
written from the specification, and an organization with an owner."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from admitone.core.db import Database
from admitone.orgs.models import Organization
from admitone.settings import Settings
from admitone.users.models import User
from tests.factories import auth_headers, make_organization, make_user


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next planned (status, body, headers); 200 when none."""

    url: str
    received: list[Received] = field(default_factory=list)
    plan: list[tuple[int, bytes, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *statuses: int, body: bytes = b"ok", **headers: str) -> None:
        with self.lock:
            self.plan.extend((s, body, dict(headers)) for s in statuses)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec = state["r"]
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            with rec.lock:
                rec.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status, reply, extra = rec.plan.pop(0) if rec.plan else (200, b"ok", {})
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k.replace("_", "-"), v)
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["r"]
    finally:
        server.shutdown()
        server.server_close()


class BadSignature(Exception):
    pass


def verify_standard_webhook(
    secret: str, headers: dict[str, str], body: bytes, *, now: int, tolerance: int = 300
) -> None:
    """The receiver's check, written from the Standard Webhooks spec (not our signer):
    base64-decode the key after `whsec_`, HMAC-SHA256 over `id.timestamp.body`, compare
    with each space-separated `v1,` signature in constant time, timestamp within 5 min."""
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(now - int(ts)) > tolerance:
        raise BadSignature("timestamp outside tolerance")
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(
        hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256).digest()
    )
    for candidate in headers["webhook-signature"].split(" "):
        version, _, sig = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(sig.encode(), expected):
            return
    raise BadSignature("no matching signature")


@dataclass
class Owner:
    user: User
    org: Organization
    headers: dict[str, str]


@pytest.fixture
def owner(db: Database, settings: Settings) -> Owner:
    with db.session() as s:
        user = make_user(s)
        org = make_organization(s, user)
        return Owner(user, org, auth_headers(s, settings, user))
