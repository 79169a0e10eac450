"""Pass codes (short, typeable, random) and signed QR payloads verifiable offline.

A QR payload is `AO1.` + base64url(body || signature), no padding, where body is 43 bytes:
a version byte (1), the pass id's ULID (16 bytes), the event id's ULID (16 bytes) and the
10-character code (ASCII); the signature is Ed25519 over the body. Each event has its own
key pair, derived from `settings.secret` with HKDF-SHA256 and the event id as `info`, so any
process can sign and verify without a database lookup, and a scanner given the event's
public key (the offline bundle) verifies a pass with no network. See docs/passes.md.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from ulid import ULID

from admitone.core.ids import EventId, PassId

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10  # 50 random bits: unguessable at the door, short enough to type
QR_PREFIX = "AO1."
_VERSION = 1
_BODY_LEN = 1 + 16 + 16 + CODE_LENGTH
_SIG_LEN = 64
# Characters people misread or mistype, folded the Crockford way.
_FOLD = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def new_code() -> str:
    return "".join(secrets.choice(CROCKFORD) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str | None:
    """A typed code in canonical form (case, dashes, spaces and look-alikes folded), or None
    when it cannot be a pass code."""
    cleaned = text.strip().upper().replace("-", "").replace(" ", "").translate(_FOLD)
    if len(cleaned) != CODE_LENGTH or any(c not in CROCKFORD for c in cleaned):
        return None
    return cleaned


def format_code(code: str) -> str:
    """For humans: `ABCDE-FGHJK`."""
    return f"{code[:5]}-{code[5:]}"


@lru_cache(maxsize=4096)
def _event_key(secret: bytes, event_id: str) -> Ed25519PrivateKey:
    seed = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"admitone.passes.qr.v1", info=event_id.encode()
    ).derive(secret)
    return Ed25519PrivateKey.from_private_bytes(seed)


def event_private_key(secret: bytes, event_id: str) -> Ed25519PrivateKey:
    return _event_key(secret, event_id)


@lru_cache(maxsize=4096)
def _event_public(secret: bytes, event_id: str) -> Ed25519PublicKey:
    return _event_key(secret, event_id).public_key()


def event_public_key(secret: bytes, event_id: str) -> str:
    """The event's raw 32-byte Ed25519 public key, base64url without padding."""
    raw = _event_public(secret, event_id).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return _b64(raw)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _ulid_bytes(prefixed: str) -> bytes:
    return ULID.from_str(prefixed.split("_", 1)[1]).bytes


def sign_qr(secret: bytes, *, pass_id: str, event_id: str, code: str) -> str:
    body = bytes([_VERSION]) + _ulid_bytes(pass_id) + _ulid_bytes(event_id) + code.encode()
    signature = _event_key(secret, event_id).sign(body)
    return QR_PREFIX + _b64(body + signature)


@dataclass(frozen=True)
class QrClaims:
    pass_id: PassId
    event_id: EventId
    code: str


class BadQr(ValueError):
    """Not a QR payload of ours, or its signature does not verify."""


def looks_like_qr(text: str) -> bool:
    return text.startswith(QR_PREFIX)


def verify_qr(secret: bytes, payload: str) -> QrClaims:
    """The claims of a payload whose signature verifies with its event's key; BadQr otherwise.

    The key is chosen by the event id inside the payload: changing that id changes the key,
    so a payload moved to another event fails verification."""
    if not payload.startswith(QR_PREFIX) or len(payload) > 200:
        raise BadQr("not a pass QR payload")
    try:
        raw = _unb64(payload[len(QR_PREFIX) :])
    except (binascii.Error, ValueError) as exc:
        raise BadQr("not base64url") from exc
    if len(raw) != _BODY_LEN + _SIG_LEN or raw[0] != _VERSION:
        raise BadQr("wrong length or version")
    body, signature = raw[:_BODY_LEN], raw[_BODY_LEN:]
    try:
        pass_id = PassId(f"pas_{ULID.from_bytes(body[1:17])}")
        event_id = EventId(f"evt_{ULID.from_bytes(body[17:33])}")
        code = body[33:].decode("ascii")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadQr("malformed body") from exc
    try:
        _event_public(secret, event_id).verify(signature, body)
    except InvalidSignature as exc:
        raise BadQr("signature does not verify") from exc
    return QrClaims(pass_id, event_id, code)
