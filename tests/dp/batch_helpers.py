"""Batch inputs for tests: CSVs and zips of real photos, and hostile ones."""

from __future__ import annotations

import io
import struct
import zipfile
from typing import Any

from fastapi.testclient import TestClient

from tests.dp.conftest import photo


def csv_bytes(*lines: str, header: str = "name,title,photo") -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def zip_bytes(members: dict[str, bytes], *, compression: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return out.getvalue()


def photos_zip(*names: str) -> bytes:
    return zip_bytes({n: photo(320 + 16 * i, 240) for i, n in enumerate(names)})


def lying_zip(name: str, declared: int) -> bytes:
    """A zip whose central directory declares `declared` uncompressed bytes for its member
    (a bomb's header), whatever it holds."""
    data = bytearray(zip_bytes({name: b"x" * 1000}, compression=zipfile.ZIP_DEFLATED))
    at = data.rindex(b"PK\x01\x02")
    data[at + 24 : at + 28] = struct.pack("<I", declared)
    return bytes(data)


def post_batch(
    client: Any,
    campaign_id: str,
    template_id: str,
    csv: bytes,
    photos: bytes | None,
    headers: dict[str, str],
) -> Any:
    files: dict[str, Any] = {"csv": ("people.csv", csv, "text/csv")}
    if photos is not None:
        files["photos"] = ("photos.zip", photos, "application/zip")
    return client.post(
        f"/api/v1/dp-campaigns/{campaign_id}/batches",
        files=files,
        data={"template_id": template_id},
        headers=headers,
    )


def get_batch(client: TestClient, batch_id: str, headers: dict[str, str]) -> dict[str, Any]:
    r = client.get(f"/api/v1/dp-batches/{batch_id}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())
