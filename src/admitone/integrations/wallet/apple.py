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

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from admitone.integrations.wallet.keys import AppleMaterial

PKPASS_TYPE = "application/vnd.apple.pkpass"


_SIGN_OPTIONS = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]


def sign_manifest(manifest: bytes, material: AppleMaterial) -> bytes:
    builder = material.signer.set_data(manifest).add_certificate(material.wwdr)
    return builder.sign(serialization.Encoding.DER, _SIGN_OPTIONS)


# --- the zip ------------------------------------------------------------------------------
# A minimal ZIP writer (PKWARE APPNOTE 4.3: local headers, central directory, end record):
# `zipfile` spends more time per entry than the PKCS#7 signature costs. A pass repeats the
# same images every time, so everything about them (CRC, SHA-1, their zip records, their
# part of the manifest) is prepared once per image set (`_prepare`), and a pass costs the
# hashes of its pass.json, one signature and a few `struct.pack`s.

_DOS_TIME, _DOS_DATE = 0, (2026 - 1980) << 9 | 1 << 5 | 1  # a fixed date: stable bundles
_UTF8 = 0x800
_PASS_JSON = "pass.json"


@dataclass(frozen=True)
class _Entry:
    name: bytes
    crc: int
    payload: bytes  # every member is stored: PNGs are compressed already, JSON is ~2 KB
    sha1: str


def _entry(name: str, data: bytes) -> _Entry:
    return _Entry(name.encode(), zlib.crc32(data), data, hashlib.sha1(data).hexdigest())  # noqa: S324 (Apple's format)


def _records(entries: Iterable[_Entry], start: int) -> tuple[bytes, bytes]:
    """The local records (header + data) and central directory records of `entries`, the
    first written at offset `start`."""
    local: list[bytes] = []
    central: list[bytes] = []
    offset = start
    for e in entries:
        size = len(e.payload)
        common = struct.pack(
            "<HHHHIIIH", _UTF8, zipfile.ZIP_STORED, _DOS_TIME, _DOS_DATE, e.crc, size, size,
            len(e.name),
        )  # fmt: skip
        record = struct.pack("<IH", 0x04034B50, 20) + common + b"\0\0" + e.name
        local += (record, e.payload)
        central.append(
            struct.pack("<IHH", 0x02014B50, 20, 20)
            + common
            + struct.pack("<HHHHII", 0, 0, 0, 0, 0, offset)
            + e.name
        )
        offset += len(record) + size
    return b"".join(local), b"".join(central)


def _manifest(hashes: Mapping[str, str]) -> bytes:
    return json.dumps(dict(hashes), sort_keys=True).encode()


def manifest_of(files: Mapping[str, bytes]) -> bytes:
    """`manifest.json` for `files` (name: bytes), as `build_pkpass` writes it."""
    return _manifest({n: hashlib.sha1(d).hexdigest() for n, d in files.items()})  # noqa: S324


@dataclass(frozen=True)
class _Images:
    count: int
    local: bytes  # the images' zip records: they open every bundle
    central: bytes
    manifest_head: bytes  # manifest.json around the pass.json hash
    manifest_tail: bytes


def _prepare(images: Mapping[str, bytes]) -> _Images:
    entries = [_entry(n, d) for n, d in sorted(images.items())]
    local, central = _records(entries, 0)
    marker = "0" * 40
    hashes = {e.name.decode(): e.sha1 for e in entries} | {_PASS_JSON: marker}
    head, tail = _manifest(hashes).split(marker.encode())
    return _Images(len(entries), local, central, head, tail)


# Image sets by identity (a set is a cached dict: the bundled images, or an organization's
# derived logo and icon); each entry keeps its dict alive, so an id is never reused here.
_PREPARED: dict[int, tuple[Mapping[str, bytes], _Images]] = {}


def _prepared(images: Mapping[str, bytes]) -> _Images:
    known = _PREPARED.get(id(images))
    if known is not None and known[0] is images:
        return known[1]
    prepared = _prepare(images)
    if len(_PREPARED) >= 64:
        _PREPARED.clear()
    _PREPARED[id(images)] = (images, prepared)
    return prepared


def build_pkpass(pass_json: bytes, images: Mapping[str, bytes], material: AppleMaterial) -> bytes:
    """The signed bundle of `pass_json` and `images` (PNGs by name). Give the same `images`
    object for every pass that uses them (a cached dict): what they cost is paid once."""
    prepared = _prepared(images)
    pass_entry = _entry(_PASS_JSON, pass_json)
    manifest = prepared.manifest_head + pass_entry.sha1.encode() + prepared.manifest_tail
    signature = sign_manifest(manifest, material)
    dynamic = (
        pass_entry,
        _Entry(b"manifest.json", zlib.crc32(manifest), manifest, ""),
        _Entry(b"signature", zlib.crc32(signature), signature, ""),
    )
    tail_local, tail_central = _records(dynamic, len(prepared.local))
    n = prepared.count + len(dynamic)
    size = len(prepared.central) + len(tail_central)
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, n, n, size, len(prepared.local) + len(tail_local), 0
    )
    return b"".join((prepared.local, tail_local, prepared.central, tail_central, end))


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
