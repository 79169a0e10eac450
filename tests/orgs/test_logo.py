"""An organization's logo: uploaded through the image intake (sniffed, bounded, cleaned)
by a member with `org.update`, audited, replaced and removed (its blob deleted after)."""

from __future__ import annotations

import io
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from admitone.access.models import AuditEntry
from admitone.core.db import Database
from admitone.core.files import File
from admitone.integrations.storage import BlobNotFound, storage_for
from admitone.settings import Settings
from tests.factories import add_team_member, auth_headers, make_organization, make_user
from tests.passes.logo_images import logo_png


def _put(client: TestClient, org_id: str, headers: dict[str, str], data: bytes) -> Any:
    return client.put(
        f"/api/v1/organizations/{org_id}/logo",
        files={"file": ("logo.png", data, "image/png")},
        headers=headers,
    )


def test_the_logo_is_uploaded_replaced_and_removed_by_org_update(
    client: TestClient, db: Database, settings: Settings, run_jobs: Any
) -> None:
    with db.session() as s:
        owner = make_user(s)
        org = make_organization(s, owner)
        viewer = make_user(s)
        add_team_member(s, org, viewer, "viewer")
        owner_h, viewer_h = auth_headers(s, settings, owner), auth_headers(s, settings, viewer)
        stranger_h = auth_headers(s, settings, make_user(s))

    first = _put(client, org.id, owner_h, logo_png())
    assert first.status_code == 200, first.text
    file_id = first.json()["logo_file_id"]
    assert file_id.startswith("fil_")
    stored = db.query(lambda s: s.get(File, file_id))
    assert stored is not None
    assert stored.content_type == "image/webp"  # transparency kept
    assert storage_for(settings).get(stored.storage_key)[:4] == b"RIFF"
    assert (
        client.get(f"/api/v1/organizations/{org.id}", headers=owner_h).json()["logo_file_id"]
        == file_id
    )

    assert _put(client, org.id, viewer_h, logo_png()).json()["code"] == "capability_required"
    assert _put(client, org.id, stranger_h, logo_png()).status_code == 404
    not_image = _put(client, org.id, owner_h, b"%PDF-1.4 not an image")
    assert (not_image.status_code, not_image.json()["code"]) == (422, "invalid_image")
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    assert _put(client, org.id, owner_h, gif.getvalue()).json()["code"] == "unsupported_image_type"
    truncated = _put(client, org.id, owner_h, logo_png()[:200])
    assert (truncated.status_code, truncated.json()["code"]) == (422, "invalid_image")

    second = _put(client, org.id, owner_h, logo_png((300, 300)))
    assert second.status_code == 200
    assert db.query(lambda s: s.get(File, file_id)) is None  # the replaced file is released
    assert run_jobs() >= 1
    try:
        storage_for(settings).get(stored.storage_key)
        raise AssertionError("the replaced logo's blob is still stored")
    except BlobNotFound:
        pass

    gone = client.delete(f"/api/v1/organizations/{org.id}/logo", headers=owner_h)
    assert gone.status_code == 200
    assert gone.json()["logo_file_id"] is None
    again = client.delete(f"/api/v1/organizations/{org.id}/logo", headers=owner_h)
    assert again.status_code == 200
    with db.session() as s:
        actions = s.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.target_id == org.id, AuditEntry.action.like("organization_logo.%"))
            .order_by(AuditEntry.created_at)
        ).all()
    assert actions == [
        "organization_logo.updated",
        "organization_logo.updated",
        "organization_logo.removed",
    ]
