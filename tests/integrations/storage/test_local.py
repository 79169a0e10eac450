"""The local-folder storage backend: atomic writes, safe keys, idempotent deletes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from admitone.integrations.storage import (
    BlobNotFound,
    InvalidKey,
    LocalStorage,
    StorageError,
    storage_for,
)
from admitone.settings import Settings, StorageSettings


def test_put_get_stream_and_delete_round_trip(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("covers/evt_1/fil_1.jpg", b"first", "image/jpeg")
    assert storage.get("covers/evt_1/fil_1.jpg") == b"first"
    storage.put("covers/evt_1/fil_1.jpg", b"second version", "image/jpeg")
    assert b"".join(storage.stream("covers/evt_1/fil_1.jpg", chunk_bytes=4)) == b"second version"
    assert [p.name for p in (tmp_path / "covers" / "evt_1").iterdir()] == ["fil_1.jpg"]
    storage.delete("covers/evt_1/fil_1.jpg")
    storage.delete("covers/evt_1/fil_1.jpg")  # twice is fine
    with pytest.raises(BlobNotFound):
        storage.get("covers/evt_1/fil_1.jpg")


def test_put_file_copies_a_file_larger_than_a_chunk(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    source = tmp_path / "badges.pdf"
    data = bytes(range(256)) * 1000  # 256 KB: several 64 KB chunks
    source.write_bytes(data)
    storage.put_file("badges/bdr_1.pdf", source, "application/pdf")
    assert storage.get("badges/bdr_1.pdf") == data
    assert [p.name for p in (tmp_path / "store" / "badges").iterdir()] == ["bdr_1.pdf"]
    with pytest.raises(StorageError):  # and no temporary file is left behind
        storage.put_file("badges/bdr_2.pdf", tmp_path / "missing.pdf", "application/pdf")
    assert [p.name for p in (tmp_path / "store" / "badges").iterdir()] == ["bdr_1.pdf"]


def test_open_reads_a_blob_in_parts_with_seeks(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("dp/batches/cmp_1/dpb_1/photos.zip", b"0123456789", "application/zip")
    with storage.open("dp/batches/cmp_1/dpb_1/photos.zip") as fh:
        fh.seek(6)
        assert fh.read(2) == b"67"
        fh.seek(1)
        assert fh.read(3) == b"123"
    with pytest.raises(BlobNotFound):
        storage.open("dp/batches/cmp_1/dpb_1/nothing.zip")


def test_missing_blob_is_reported_before_streaming_starts(tmp_path: Path) -> None:
    with pytest.raises(BlobNotFound):
        LocalStorage(tmp_path).stream("covers/nothing.jpg")


@pytest.mark.parametrize(
    "key",
    [
        "../escape.jpg",
        "covers/../../escape.jpg",
        "/etc/passwd",
        "covers//double.jpg",
        ".hidden",
        "covers/./here.jpg",
        "covers/..",
        "covers\\windows.jpg",
        "covers/%2e%2e/x",
        "covers/space name.jpg",
        "",
        "a/" * 9 + "deep",
        "x" * 301,
    ],
)
def test_unsafe_keys_are_refused(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "files")
    with pytest.raises(InvalidKey):
        storage.put(key, b"data", "text/plain")
    with pytest.raises(InvalidKey):
        storage.get(key)
    with pytest.raises(InvalidKey):
        storage.delete(key)
    assert not (tmp_path / "escape.jpg").exists()


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "files"
    root.mkdir()
    (root / "covers").symlink_to(outside)
    with pytest.raises(InvalidKey):
        LocalStorage(root).put("covers/x.jpg", b"data", "image/jpeg")
    assert list(outside.iterdir()) == []


def test_a_failed_write_leaves_no_temporary_file_and_the_old_blob(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    (tmp_path / "covers").write_bytes(b"a file where a folder should be")
    with pytest.raises(StorageError):
        storage.put("covers/x.jpg", b"data", "image/jpeg")
    # The rename fails after the temporary file is written: a folder holds the key.
    (tmp_path / "taken.jpg").mkdir()
    (tmp_path / "taken.jpg" / "inside").write_bytes(b"old")
    with pytest.raises(StorageError):
        storage.put("taken.jpg", b"new", "image/jpeg")
    assert (tmp_path / "taken.jpg" / "inside").read_bytes() == b"old"
    assert [p.name for p in tmp_path.rglob(".tmp-*")] == []


def test_settings_choose_the_backend(tmp_path: Path) -> None:
    local = storage_for(Settings(var_dir=tmp_path))
    assert isinstance(local, LocalStorage)
    assert local.root == (tmp_path / "files").resolve()


def test_s3_backend_needs_a_bucket() -> None:
    with pytest.raises(ValidationError, match="ADMITONE_STORAGE__S3_BUCKET"):
        StorageSettings(backend="s3")
    assert StorageSettings(backend="s3", s3_bucket="covers").s3_bucket == "covers"
