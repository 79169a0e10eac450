"""Blobs in an S3-compatible bucket (AWS S3, MinIO, R2, ...) through boto3.

Credentials and region come from boto3's usual chain (`AWS_ACCESS_KEY_ID`/`..._SECRET_...`,
`AWS_PROFILE`, `~/.aws/config`, an instance or task role); only the bucket and an optional
endpoint are settings. A custom endpoint is addressed path-style, which every S3-compatible
store understands.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from admitone.integrations.storage.base import CHUNK_BYTES, BlobNotFound, StorageError, check_key

_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Storage:
    name = "s3"

    def __init__(self, bucket: str, endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        config = Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path"} if endpoint_url else {},
        )
        # A client is thread-safe; one per storage, shared by the request threads.
        self.client: Any = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, config=config
        )

    def put(self, key: str, data: bytes, content_type: str) -> None:
        # One PUT: S3 makes the object visible whole or not at all.
        self._call(
            "put_object",
            Bucket=self.bucket,
            Key=check_key(key),
            Body=data,
            ContentType=content_type,
        )

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        # A file body is streamed by the client, still as one PUT (files here stay far
        # below S3's 5 GB limit for one).
        with path.open("rb") as body:
            self._call(
                "put_object",
                Bucket=self.bucket,
                Key=check_key(key),
                Body=body,
                ContentType=content_type,
            )

    def get(self, key: str) -> bytes:
        body = self._call("get_object", Bucket=self.bucket, Key=check_key(key))["Body"]
        with body:
            data: bytes = body.read()
            return data

    def open(self, key: str) -> BinaryIO:
        # Objects are read from the start; a local temporary copy (on disk past 8 MiB) is
        # what a reader seeking back and forth needs.
        copy = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (returned)
        try:
            for chunk in self.stream(key):
                copy.write(chunk)
            copy.seek(0)
        except OSError as exc:  # the temporary copy's disk
            copy.close()
            raise StorageError(f"could not copy {key}: {exc}") from exc
        except BaseException:
            copy.close()
            raise
        return cast(BinaryIO, copy)

    def stream(self, key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        body = self._call("get_object", Bucket=self.bucket, Key=check_key(key))["Body"]
        return _chunks(body, chunk_bytes)

    def delete(self, key: str) -> None:
        # S3 answers 204 for a key that is not there: deleting twice is safe.
        self._call("delete_object", Bucket=self.bucket, Key=check_key(key))

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise BlobNotFound(kwargs.get("Key", "")) from exc
            raise StorageError(f"S3 {operation} failed: {code or exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 {operation} failed: {exc}") from exc


def _chunks(body: Any, size: int) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(size)
    except (BotoCoreError, OSError) as exc:
        raise StorageError(f"S3 read failed: {exc}") from exc
    finally:
        body.close()
