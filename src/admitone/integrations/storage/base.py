"""The blob storage interface, its errors and the one rule for keys.

Backends are called outside database transactions: a route stores a blob before the
mutation that records it, and a job deletes a blob after the mutation that released it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

# Segments of letters, digits, `.`, `_` and `-`, each starting with a letter or a digit
# (so no `.`, `..` or hidden names), joined by `/`: the same path on a disk and in a bucket.
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){0,7}")
MAX_KEY_LENGTH = 300  # files.storage_key

CHUNK_BYTES = 64 * 1024


class StorageError(Exception):
    """The backend failed (disk, network, credentials); the caller may retry."""


class BlobNotFound(StorageError):
    """No blob under this key."""


class InvalidKey(ValueError):
    """A key that could escape its folder or that a backend would read differently."""


def check_key(key: str) -> str:
    if len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise InvalidKey(f"unsafe storage key {key[:80]!r}")
    return key


class Storage(Protocol):
    name: str

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Stores `data` under `key`, replacing any blob there; readers never see half."""

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Stores the file at `path` under `key` as `put` does, read in chunks (a large
        file is never held in memory whole)."""

    def get(self, key: str) -> bytes:
        """The whole blob; raises `BlobNotFound`."""

    def open(self, key: str) -> BinaryIO:
        """The blob as a seekable file the caller closes (a large blob read in parts, such
        as a zip's members, without holding it whole in memory); raises `BlobNotFound`."""

    def stream(self, key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The blob in chunks. `BlobNotFound` is raised by this call, before any chunk, so
        a response can still answer 404."""

    def delete(self, key: str) -> None:
        """Removes the blob; a missing one is not an error (deleting twice is safe)."""
