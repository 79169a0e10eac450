"""Auth test harness: a local identity provider publishing JWKS over real HTTP (Google and
Apple stand-ins) that signs real RS256 ID tokens, and helpers to sign in through the dev
mailbox."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from admitone.core.clock import utcnow
from admitone.settings import Settings

GOOGLE_CLIENT = "google-web-client.apps.googleusercontent.com"
APPLE_CLIENT = "com.admitone.ios"


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEYS = {name: _rsa() for name in ("g1", "g2", "a1", "a2", "rogue")}


@dataclass
class FakeIdP:
    """Serves `/google` and `/apple` JWKS documents; counts fetches; can fail."""

    base_url: str = ""
    published: dict[str, list[str]] = field(
        default_factory=lambda: {"google": ["g1"], "apple": ["a1"]}
    )
    fetches: Counter[str] = field(default_factory=Counter)
    failing: bool = False
    max_age: int | None = 3600

    def jwks(self, provider: str) -> dict[str, Any]:
        keys = []
        for kid in self.published[provider]:
            jwk = json.loads(RSAAlgorithm.to_jwk(KEYS[kid].public_key()))
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": keys}

    def url(self, provider: str) -> str:
        return f"{self.base_url}/{provider}"

    def sign(
        self,
        provider: str,
        *,
        kid: str | None = None,
        key: str | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        now = int(utcnow().timestamp())
        base: dict[str, Any]
        if provider == "google":
            base = {
                "iss": "https://accounts.google.com",
                "aud": GOOGLE_CLIENT,
                "sub": f"g-{uuid.uuid4().hex}",
                "email": f"{uuid.uuid4().hex[:10]}@gmail.test",
                "email_verified": True,
            }
        else:
            base = {
                "iss": "https://appleid.apple.com",
                "aud": APPLE_CLIENT,
                "sub": f"001234.{uuid.uuid4().hex}.0101",
                "email": f"{uuid.uuid4().hex[:10]}@privaterelay.appleid.com",
                "email_verified": "true",
                "is_private_email": "true",
                "nonce": hashlib.sha256(b"raw-nonce").hexdigest(),
            }
        payload = {**base, "iat": now, "exp": now + 600, **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        kid = kid or self.published[provider][0]
        return jwt.encode(
            payload, KEYS[key or kid], algorithm="RS256", headers={"kid": kid, **(headers or {})}
        )


@pytest.fixture
def idp() -> Iterator[FakeIdP]:
    fake = FakeIdP()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            provider = self.path.strip("/")
            fake.fetches[provider] += 1
            if fake.failing or provider not in fake.published:
                self.send_response(503)
                self.end_headers()
                return
            body = json.dumps(fake.jwks(provider)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if fake.max_age is not None:
                self.send_header("Cache-Control", f"public, max-age={fake.max_age}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(settings: Settings, idp: FakeIdP) -> Settings:
    return settings.model_copy(
        update={
            "auth": settings.auth.model_copy(
                update={
                    "google_jwks_url": idp.url("google"),
                    "google_client_ids": [GOOGLE_CLIENT, "google-ios-client"],
                    "apple_jwks_url": idp.url("apple"),
                    "apple_client_ids": [APPLE_CLIENT],
                }
            )
        }
    )


CODE = re.compile(r"\b(\d{6})\b")


@pytest.fixture
def read_mail(client: TestClient, run_jobs: Callable[[], int]) -> Callable[[str], dict[str, Any]]:
    """Runs pending jobs and returns the newest dev-mailbox message for an address."""

    def read(email: str) -> dict[str, Any]:
        run_jobs()
        items = client.get("/dev/mailbox", params={"to": email}).json()["items"]
        assert items, f"no mail for {email}"
        return items[0]

    return read


@pytest.fixture
def sign_in(
    client: TestClient, read_mail: Callable[[str], dict[str, Any]]
) -> Callable[[str], dict[str, Any]]:
    """Signs in with an e-mail code exactly as a person would; returns the token body."""

    def run(email: str) -> dict[str, Any]:
        assert client.post("/api/v1/auth/otp/start", json={"email": email}).status_code == 202
        match = CODE.search(read_mail(email)["text"])
        assert match
        resp = client.post("/api/v1/auth/otp/verify", json={"email": email, "code": match[1]})
        assert resp.status_code == 200, resp.text
        return resp.json()

    return run


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
