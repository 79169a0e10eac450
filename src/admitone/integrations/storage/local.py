"""Blobs as files under one folder (`var/files/` by default): the embedded backend."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from admitone.integrations.storage.base import (
    CHUNK_BYTES,
    BlobNotFound,
    InvalidKey,
    StorageError,
    check_key,
)


class LocalStorage:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        # check_key already refuses `..`; a symlink planted inside the folder is refused here.
        if not path.is_relative_to(self.root):
            raise InvalidKey(f"storage key {key[:80]!r} leaves the storage folder")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._write(key, lambda fh: fh.write(data))

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        def copy(fh: BinaryIO) -> None:
            with path.open("rb") as src:
                shutil.copyfileobj(src, fh, CHUNK_BYTES)

        self._write(key, copy)

    def _write(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A temporary name no key can take (keys never start with `.`), in the same
            # folder so the rename is atomic: a reader sees the old blob or the new one.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    write(fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise StorageError(f"could not write {key}: {exc.strerror}") from exc

    def get(self, key: str) -> bytes:
        with self._open(key) as fh:
            return fh.read()

    def open(self, key: str) -> BinaryIO:
        return self._open(key)

    def stream(self, key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        return _chunks(self._open(key), chunk_bytes)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"could not delete {key}: {exc.strerror}") from exc

    def _open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobNotFound(key) from exc
        except OSError as exc:
            raise StorageError(f"could not read {key}: {exc.strerror}") from exc


def _chunks(fh: BinaryIO, size: int) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(size):
            yield chunk
