"""Blob storage behind one interface (`Storage`): a local folder or an S3-compatible bucket,
chosen by `settings.storage.backend`."""

from __future__ import annotations

import threading

from admitone.integrations.storage.base import (
    BlobNotFound,
    InvalidKey,
    Storage,
    StorageError,
    check_key,
)
from admitone.integrations.storage.local import LocalStorage
from admitone.settings import Settings

__all__ = [
    "BlobNotFound",
    "InvalidKey",
    "LocalStorage",
    "Storage",
    "StorageError",
    "check_key",
    "storage_for",
]

_s3: dict[tuple[str, str | None], Storage] = {}
_lock = threading.Lock()


def storage_for(settings: Settings) -> Storage:
    """The configured backend. An S3 client is built once per bucket and endpoint (it keeps
    its connection pool between requests); a local folder costs nothing to open."""
    s = settings.storage
    if s.backend != "s3":
        return LocalStorage(settings.var_dir / "files")
    assert s.s3_bucket, "settings validation requires a bucket for the s3 backend"
    key = (s.s3_bucket, s.s3_endpoint_url)
    with _lock:
        storage = _s3.get(key)
        if storage is None:
            from admitone.integrations.storage.s3 import S3Storage  # boto3 loads when used

            storage = _s3[key] = S3Storage(s.s3_bucket, s.s3_endpoint_url)
        return storage
