"""Apple Wallet: the signed `.pkpass` bundle and APNs pushes.

A `.pkpass` is a zip of `pass.json`, images, `manifest.json` (the lowercase hex SHA-1 of
every other file) and `signature`: a detached PKCS#7 (CMS SignedData, DER) over the exact
bytes of `manifest.json`, signed by the Pass Type ID certificate's key with the WWDR
intermediate in the certificate set and a `signingTime` attribute (cryptography adds it).
`PKCS7Options.Binary` signs the bytes as they are (without it a manifest with newlines is
signed in canonical-MIME form and fails `openssl cms -verify -binary`).

APNs: `POST /3/device/<push token>` over HTTP/2 with the pass certificate as the TLS client
certificate, `apns-topic: <pass type id>`, `apns-push-type: background` and an empty JSON
object: the device then asks the pass web service what changed.
"""

from __future__ import annotations

import hashlib
import io
import json
import ssl
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from admitone.integrations.wallet.keys import AppleMaterial

PKPASS_TYPE = "application/vnd.apple.pkpass"


def sign_manifest(manifest: bytes, material: AppleMaterial) -> bytes:
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest)
        .add_signer(material.certificate, material.key, hashes.SHA256())
        .add_certificate(material.wwdr)
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )


def manifest_of(files: Mapping[str, bytes]) -> bytes:
    return json.dumps(
        {name: hashlib.sha1(data).hexdigest() for name, data in files.items()},  # noqa: S324
        sort_keys=True,
    ).encode()


def build_pkpass(files: Mapping[str, bytes], material: AppleMaterial) -> bytes:
    """The signed bundle of `files` (`pass.json` and images, by name)."""
    manifest = manifest_of(files)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("manifest.json", manifest)
        z.writestr("signature", sign_manifest(manifest, material))
    return out.getvalue()


@dataclass(frozen=True)
class PushResult:
    push_token: str
    status: int
    reason: str | None

    @property
    def unregistered(self) -> bool:
        """The device no longer takes pushes for this token (APNs 410, or 400
        BadDeviceToken): its registration should go."""
        return self.status == 410 or (self.status == 400 and self.reason == "BadDeviceToken")


class ApnsError(Exception):
    """APNs could not be reached or refused for a reason worth a retry."""


class ApnsClient:
    """One HTTP/2 connection to APNs authenticated with the pass certificate."""

    def __init__(
        self,
        material: AppleMaterial,
        *,
        base_url: str,
        ca_file: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        tls = ssl.create_default_context(cafile=ca_file)
        tls.load_cert_chain(material.cert_file, material.key_file)
        self._client = httpx.Client(http2=True, base_url=base_url, verify=tls, timeout=timeout)

    def __enter__(self) -> ApnsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def push(self, topic: str, tokens: Iterable[str]) -> list[PushResult]:
        """An empty background notification to each token; raises ApnsError when APNs is
        unreachable or answers 5xx/429 (the caller's job is retried)."""
        results = []
        for token in tokens:
            try:
                resp = self._client.post(
                    f"/3/device/{token}",
                    content=b"{}",
                    headers={
                        "apns-topic": topic,
                        "apns-push-type": "background",
                        "apns-priority": "5",
                        "content-type": "application/json",
                    },
                )
            except httpx.HTTPError as exc:
                raise ApnsError(f"APNs unreachable: {exc}") from exc
            if resp.status_code >= 500 or resp.status_code == 429:
                raise ApnsError(f"APNs answered {resp.status_code}: {resp.text[:200]}")
            reason = None
            if resp.status_code != 200:
                try:
                    reason = str(resp.json().get("reason"))
                except ValueError:
                    reason = resp.text[:100]
            results.append(PushResult(token, resp.status_code, reason))
        return results
