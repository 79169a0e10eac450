"""Local stand-ins for Apple's and Google's servers, speaking their wire formats.

- `ApnsServer`: HTTP/2 over TLS (h2), requiring a client certificate from the test chain,
  like APNs' certificate-based provider connection. It records every `POST /3/device/<token>`
  with its headers, body and the client certificate's subject, and answers 200 (with an
  `apns-id`) or, for tokens listed in `gone`, 410 `{"reason": "Unregistered"}`.
- `GoogleServer`: HTTP/1.1 with the OAuth token endpoint (`POST /token`, JWT-bearer grant)
  and `PATCH /walletobjects/v1/eventTicketObject/{id}` (404 for ids in `missing`).
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import h2.config
import h2.connection
import h2.events
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from admitone.integrations.wallet.keys import DevChain, make_certificate


@dataclass
class Push:
    path: str
    headers: dict[str, str]
    body: bytes
    client_subject: str


@dataclass
class ApnsServer:
    url: str = ""
    ca_file: str = ""
    pushes: list[Push] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)


def _server_tls(chain: DevChain, directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server certificate for `localhost` issued by the chain's root, and a context that
    asks for a client certificate from the same chain."""
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = make_certificate("APNs stand-in root", root_key, ca=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = make_certificate("localhost", key, root, root_key, dns="localhost")
    cert_file, key_file, ca_file = (
        directory / "srv.pem",
        directory / "srv.key",
        directory / "ca.pem",
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ca_file.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    clients = directory / "clients.pem"
    clients.write_bytes(chain.root.read_bytes() + chain.wwdr.read_bytes())
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    ctx.load_verify_locations(clients)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["h2"])
    return ctx, ca_file


def _serve_h2(sock: ssl.SSLSocket, server: ApnsServer) -> None:
    peer = sock.getpeercert() or {}
    subject = ", ".join(f"{k}={v}" for rdn in peer.get("subject", ()) for k, v in rdn)
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
    )
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    streams: dict[int, tuple[dict[str, str], bytearray]] = {}
    while True:
        try:
            data = sock.recv(65535)
        except (OSError, ssl.SSLError):
            return
        if not data:
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                streams[event.stream_id] = (dict(event.headers), bytearray())  # type: ignore[arg-type]
            elif isinstance(event, h2.events.DataReceived):
                streams[event.stream_id][1].extend(event.data)
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                headers, body = streams.pop(event.stream_id)
                path = headers.get(":path", "")
                server.pushes.append(Push(path, headers, bytes(body), subject))
                token = path.rsplit("/", 1)[-1]
                if token in server.gone:
                    out = json.dumps({"reason": "Unregistered"}).encode()
                    conn.send_headers(
                        event.stream_id,
                        [(":status", "410"), ("content-length", str(len(out)))],
                    )
                    conn.send_data(event.stream_id, out, end_stream=True)
                else:
                    conn.send_headers(
                        event.stream_id,
                        [(":status", "200"), ("apns-id", str(uuid.uuid4()))],
                        end_stream=True,
                    )
        sock.sendall(conn.data_to_send())


def start_apns(chain: DevChain, directory: Path) -> tuple[ApnsServer, threading.Event]:
    ctx, ca_file = _server_tls(chain, directory)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    server = ApnsServer(url=f"https://localhost:{port}", ca_file=str(ca_file))
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(5)
            try:
                tls = ctx.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                raw.close()
                continue
            threading.Thread(target=_handle, args=(tls,), daemon=True).start()
        listener.close()

    def _handle(tls: ssl.SSLSocket) -> None:
        with tls:
            _serve_h2(tls, server)

    threading.Thread(target=accept, daemon=True).start()
    return server, stop


@dataclass
class GoogleServer:
    url: str = ""
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)
    patches: list[tuple[str, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)


def start_google() -> tuple[GoogleServer, ThreadingHTTPServer]:
    fake = GoogleServer()

    class Handler(BaseHTTPRequestHandler):
        def _json(self, status: int, body: dict[str, Any]) -> None:
            out = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_POST(self) -> None:
            if self.path != "/token":
                self._json(404, {"error": "not found"})
                return
            form = parse_qs(self._body().decode())
            fake.token_requests.append(form)
            self._json(200, {"access_token": "ya29.test-token", "expires_in": 3599})

        def do_PATCH(self) -> None:
            prefix = "/walletobjects/v1/eventTicketObject/"
            object_id = self.path.removeprefix(prefix)
            body = json.loads(self._body())
            if self.headers.get("Authorization") != "Bearer ya29.test-token":
                self._json(401, {"error": {"code": 401}})
                return
            if object_id in fake.missing:
                self._json(404, {"error": {"code": 404, "message": "not found"}})
                return
            fake.patches.append((object_id, dict(self.headers.items()), body))
            self._json(200, body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return fake, httpd
