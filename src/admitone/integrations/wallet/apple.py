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
import json
import ssl
import struct
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

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


# --- the zip ------------------------------------------------------------------------------
# A minimal ZIP writer (PKWARE APPNOTE 4.3: local headers, central directory, end record):
# `zipfile` spends more time per entry than the PKCS#7 signature costs, and a pass repeats
# the same images every time, so their CRC, SHA-1 and headers are computed once.

_DOS_TIME, _DOS_DATE = 0, (2026 - 1980) << 9 | 1 << 5 | 1  # a fixed date: stable bundles
_UTF8 = 0x800


@dataclass(frozen=True)
class _Entry:
    name: bytes
    method: int
    crc: int
    usize: int
    payload: bytes  # the member as stored
    sha1: str


def _entry(name: str, data: bytes) -> _Entry:
    # Every member is stored: the images are compressed already and the JSON is ~2 KB, so
    # deflating costs more time than the bytes it saves.
    return _Entry(
        name.encode(),
        zipfile.ZIP_STORED,
        zlib.crc32(data),
        len(data),
        data,
        hashlib.sha1(data).hexdigest(),  # noqa: S324 (Apple's format)
    )


@lru_cache(maxsize=64)
def _asset_entry(name: str, data: bytes) -> _Entry:
    return _entry(name, data)  # a bytes object caches its hash: the lookup is cheap


def _records(entries: tuple[_Entry, ...], start: int) -> tuple[bytes, bytes]:
    """The local records (header + data) and central directory records of `entries`, the
    first written at offset `start`."""
    local: list[bytes] = []
    central: list[bytes] = []
    offset = start
    for e in entries:
        common = struct.pack(
            "<HHHHIIIH",
            _UTF8,
            e.method,
            _DOS_TIME,
            _DOS_DATE,
            e.crc,
            len(e.payload),
            e.usize,
            len(e.name),
        )
        record = struct.pack("<IH", 0x04034B50, 20) + common + b"\0\0" + e.name
        local += (record, e.payload)
        central.append(
            struct.pack("<IHH", 0x02014B50, 20, 20)
            + common
            + struct.pack("<HHHHII", 0, 0, 0, 0, 0, offset)
            + e.name
        )
        offset += len(record) + len(e.payload)
    return b"".join(local), b"".join(central)


@lru_cache(maxsize=8)
def _static_records(entries: tuple[_Entry, ...]) -> tuple[bytes, bytes]:
    """The images' records, the same on every pass: they open the zip, so are made once."""
    return _records(entries, 0)


def _zip(static: tuple[_Entry, ...], dynamic: tuple[_Entry, ...]) -> bytes:
    head_local, head_central = _static_records(static)
    tail_local, tail_central = _records(dynamic, len(head_local))
    n = len(static) + len(dynamic)
    size = len(head_central) + len(tail_central)
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, n, n, size, len(head_local) + len(tail_local), 0
    )
    return b"".join((head_local, tail_local, head_central, tail_central, end))


def manifest_of(files: Mapping[str, bytes]) -> bytes:
    return _manifest([_entry_for(n, d) for n, d in files.items()])


def _entry_for(name: str, data: bytes) -> _Entry:
    return _asset_entry(name, data) if name.endswith(".png") else _entry(name, data)


def _manifest(entries: list[_Entry]) -> bytes:
    return json.dumps({e.name.decode(): e.sha1 for e in entries}, sort_keys=True).encode()


def build_pkpass(files: Mapping[str, bytes], material: AppleMaterial) -> bytes:
    """The signed bundle of `files` (`pass.json` and images, by name)."""
    static = tuple(_asset_entry(n, d) for n, d in files.items() if n.endswith(".png"))
    dynamic = [_entry(n, d) for n, d in files.items() if not n.endswith(".png")]
    manifest = _manifest([*static, *dynamic])
    signature = sign_manifest(manifest, material)
    dynamic += [
        _entry("manifest.json", manifest),
        _Entry(
            b"signature", zipfile.ZIP_STORED, zlib.crc32(signature), len(signature), signature, ""
        ),
    ]
    return _zip(static, tuple(dynamic))


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
