"""Google Wallet: the "Save to Google Wallet" JWT and the REST calls that update objects.

Save link: `https://pay.google.com/gp/v/save/<JWT>`, the JWT signed RS256 by the service
account (`iss` its e-mail, `aud: google`, `typ: savetowallet`, `origins`, and a `payload`
of `eventTicketClasses` and `eventTicketObjects`); Google creates the class and object
when the holder saves. Updates: an OAuth 2 access token from the JWT-bearer grant
(`scope https://www.googleapis.com/auth/wallet_object.issuer`), then
`PATCH {api}/eventTicketObject/{id}` (404: never saved, nothing to update).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

SAVE_URL = "https://pay.google.com/gp/v/save/"
SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"


class GoogleWalletError(Exception):
    """Google could not be reached or refused for a reason worth a retry."""


def save_jwt(
    key: rsa.RSAPrivateKey,
    *,
    service_account: str,
    origins: list[str],
    classes: list[Mapping[str, Any]],
    objects: list[Mapping[str, Any]],
    now: int | None = None,
) -> str:
    claims = {
        "iss": service_account,
        "aud": "google",
        "typ": "savetowallet",
        "iat": int(time.time()) if now is None else now,
        "origins": origins,
        "payload": {"eventTicketClasses": classes, "eventTicketObjects": objects},
    }
    return jwt.encode(claims, key, algorithm="RS256")


class GoogleWalletClient:
    """The Wallet REST API as the service account; access tokens are cached until a
    minute before they expire."""

    def __init__(
        self,
        key: rsa.RSAPrivateKey,
        *,
        service_account: str,
        api_url: str,
        token_url: str,
        timeout: float = 10.0,
    ) -> None:
        self._key = key
        self._account = service_account
        self._api = api_url.rstrip("/")
        self._token_url = token_url
        self._http = httpx.Client(timeout=timeout)
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def _access_token(self) -> str:
        with self._lock:
            if self._token and self._token[1] > time.time() + 60:
                return self._token[0]
            now = int(time.time())
            assertion = jwt.encode(
                {
                    "iss": self._account,
                    "scope": SCOPE,
                    "aud": self._token_url,
                    "iat": now,
                    "exp": now + 3600,
                },
                self._key,
                algorithm="RS256",
            )
            try:
                resp = self._http.post(
                    self._token_url,
                    data={
                        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                        "assertion": assertion,
                    },
                )
            except httpx.HTTPError as exc:
                raise GoogleWalletError(f"Google token endpoint unreachable: {exc}") from exc
            if resp.status_code != 200:
                raise GoogleWalletError(f"Google token endpoint answered {resp.status_code}")
            body = resp.json()
            token = str(body["access_token"])
            self._token = (token, now + float(body.get("expires_in", 3600)))
            return token

    def patch_object(self, object_id: str, fields: Mapping[str, Any]) -> bool:
        """Updates a saved event ticket object; False when Google has no such object (the
        holder never saved it)."""
        try:
            resp = self._http.patch(
                f"{self._api}/eventTicketObject/{object_id}",
                json=dict(fields),
                headers={"Authorization": f"Bearer {self._access_token()}"},
            )
        except httpx.HTTPError as exc:
            raise GoogleWalletError(f"Google Wallet API unreachable: {exc}") from exc
        if resp.status_code == 404:
            return False
        if resp.status_code // 100 != 2:
            raise GoogleWalletError(
                f"Google Wallet API answered {resp.status_code}: {resp.text[:200]}"
            )
        return True
