"""The S3 storage backend against moto's S3 server on 127.0.0.1 (real HTTP, real boto3).

Credentials come from the environment, as in production (`AWS_ACCESS_KEY_ID`, ...).
"""

from __future__ import annotations

import hashlib
import io
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer
from PIL import Image

from admitone.app import create_app
from admitone.core import jobs
from admitone.core.db import Database
from admitone.integrations.storage import BlobNotFound, InvalidKey, StorageError, storage_for
from admitone.integrations.storage.s3 import S3Storage
from admitone.settings import Settings, StorageSettings
from tests.events.conftest import Organizer, published_event
from tests.factories import auth_headers, image_bytes, make_organization, make_user

BUCKET = "admitone-covers"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.delenv("AWS_PROFILE", raising=False)
        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            endpoint = f"http://127.0.0.1:{port}"
            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
            yield endpoint
        finally:
            server.stop()


@pytest.fixture
def s3(s3_endpoint: str) -> S3Storage:
    return S3Storage(BUCKET, s3_endpoint)


def test_put_get_stream_and_delete_round_trip(s3: S3Storage) -> None:
    s3.put("covers/evt_1/fil_1.jpg", b"first", "image/jpeg")
    assert s3.get("covers/evt_1/fil_1.jpg") == b"first"
    s3.put("covers/evt_1/fil_1.jpg", b"second version", "image/jpeg")
    assert b"".join(s3.stream("covers/evt_1/fil_1.jpg", chunk_bytes=4)) == b"second version"
    head = s3.client.head_object(Bucket=BUCKET, Key="covers/evt_1/fil_1.jpg")
    assert head["ContentType"] == "image/jpeg"
    s3.delete("covers/evt_1/fil_1.jpg")
    s3.delete("covers/evt_1/fil_1.jpg")  # twice is fine
    with pytest.raises(BlobNotFound):
        s3.get("covers/evt_1/fil_1.jpg")
    with pytest.raises(BlobNotFound):
        s3.stream("covers/evt_1/fil_1.jpg")


def test_open_gives_a_seekable_copy_of_the_object(s3: S3Storage) -> None:
    data = bytes(range(256)) * 40_000  # past the in-memory part of the copy
    s3.put("dp/batches/cmp_1/dpb_1/photos.zip", data, "application/zip")
    with s3.open("dp/batches/cmp_1/dpb_1/photos.zip") as fh:
        fh.seek(len(data) - 3)
        assert fh.read() == data[-3:]
        fh.seek(256)
        assert fh.read(4) == bytes(range(4))
    with pytest.raises(BlobNotFound):
        s3.open("dp/batches/cmp_1/dpb_1/nothing.zip")


def test_put_file_streams_a_file_as_one_object(s3: S3Storage, tmp_path: Path) -> None:
    source = tmp_path / "badges.pdf"
    data = bytes(range(256)) * 1000
    source.write_bytes(data)
    s3.put_file("badges/bdr_1.pdf", source, "application/pdf")
    assert s3.get("badges/bdr_1.pdf") == data
    head = s3.client.head_object(Bucket=BUCKET, Key="badges/bdr_1.pdf")
    assert head["ContentType"] == "application/pdf"


def test_unsafe_keys_never_reach_the_bucket(s3: S3Storage) -> None:
    for key in ("../x", "/abs", "a//b", ".hidden"):
        with pytest.raises(InvalidKey):
            s3.put(key, b"x", "text/plain")


def test_a_missing_bucket_is_a_storage_error(s3_endpoint: str) -> None:
    storage = S3Storage("no-such-bucket", s3_endpoint)
    with pytest.raises(StorageError) as caught:
        storage.put("x.jpg", b"x", "image/jpeg")
    assert not isinstance(caught.value, BlobNotFound)


def test_settings_choose_s3_and_reuse_its_client(s3_endpoint: str, settings: Settings) -> None:
    s3_settings = settings.model_copy(
        update={
            "storage": StorageSettings(backend="s3", s3_bucket=BUCKET, s3_endpoint_url=s3_endpoint)
        }
    )
    storage = storage_for(s3_settings)
    assert isinstance(storage, S3Storage)
    assert storage_for(s3_settings) is storage


def test_cover_upload_and_public_fetch_through_s3(
    s3_endpoint: str, db: Database, settings: Settings
) -> None:
    s3_settings = settings.model_copy(
        update={
            "storage": StorageSettings(backend="s3", s3_bucket=BUCKET, s3_endpoint_url=s3_endpoint)
        }
    )
    with db.session() as s:
        user = make_user(s)
        organizer = Organizer(user, make_organization(s, user), auth_headers(s, settings, user))
    with TestClient(create_app(s3_settings, db, run_worker=False)) as client:
        event = published_event(client, organizer)
        url = f"/api/v1/events/{event['id']}/cover"
        for fmt in ("JPEG", "PNG"):
            files = {"file": ("c", image_bytes(fmt, (120, 90)), "image/jpeg")}
            resp = client.put(url, files=files, headers=organizer.headers)
            assert resp.status_code == 200, resp.text
        public = client.get(f"/api/v1/public/events/{event['slug']}/cover")
        assert public.status_code == 200
        assert Image.open(io.BytesIO(public.content)).size == (120, 90)
        assert public.headers["etag"] == f'"{hashlib.sha256(public.content).hexdigest()}"'

    listed = storage_for(s3_settings)
    assert isinstance(listed, S3Storage)
    prefix = f"covers/{event['id']}/"
    before = listed.client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["KeyCount"]
    assert before == 2  # the replaced cover waits for the job
    jobs.drain(db, s3_settings)
    after = listed.client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["KeyCount"]
    assert after == 1
