"""An organization's logo: recording an uploaded logo, removing it (`org.update`).

As for event covers: the route cleans the upload (`prepare_logo`: `core.images`, so the
type is sniffed, a decompression bomb refused from its header, metadata dropped) and stores
its blob outside any transaction, then `set_logo` records the `files` row and points the
organization at it in one mutation. The logo it replaces is released (its row deleted
unless something else refers to it; its blob deleted by a job after the commit).

The wallet passes, ticket PDFs and badges derive their own sizes from the stored image
(`passes.logos`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, guard
from admitone.core.files import record_image_file, release_file
from admitone.core.ids import FileId, OrganizationId, UserId
from admitone.core.images import CleanImage, clean_image
from admitone.orgs import membership as rules
from admitone.orgs.models import Organization

LOGO_MAX_PIXELS = 40_000_000
LOGO_MAX_SIDE = 1024  # the largest derived size is 480 x 150 (Apple's logo@3x)
# The events domain's job deletes any stored blob by key once the release has committed.
DELETE_BLOB_JOB = "events.delete_blob"


def prepare_logo(data: bytes) -> CleanImage:
    """The upload as it will be stored (a WebP when it has transparency, else a JPEG)."""
    return clean_image(data, max_pixels=LOGO_MAX_PIXELS, max_side=LOGO_MAX_SIDE, quality=92)


def logo_key(organization_id: str, file_id: str, extension: str) -> str:
    return f"logos/{organization_id}/{file_id}.{extension}"


def check_logo_change(session: Session, actor_id: UserId, organization_id: OrganizationId) -> None:
    """Asked before the upload is decoded: a caller who may not change it costs no work."""
    guard(session, actor_id, Capability.ORG_UPDATE, Scope.organization(organization_id))


def _locked(session: Session, organization_id: OrganizationId) -> Organization:
    """The organization, locked: two logo changes at once release the old file once."""
    org = session.get(Organization, organization_id, with_for_update=True)
    if org is None:
        rules.get_organization(session, organization_id)  # raises organization_not_found
    assert org is not None
    return org


def set_logo(
    session: Session,
    actor_id: UserId,
    organization_id: OrganizationId,
    file_id: FileId,
    storage_key: str,
    image: CleanImage,
) -> Organization:
    g = guard(session, actor_id, Capability.ORG_UPDATE, Scope.organization(organization_id))
    org = _locked(session, organization_id)
    record_image_file(session, file_id, storage_key, image, actor_id)
    previous = org.logo_file_id
    org.logo_file_id = file_id
    session.flush()
    if previous is not None:
        release_file(session, previous, DELETE_BLOB_JOB)
    g.audit(
        "organization_logo.updated",
        "organization",
        org.id,
        before={"logo_file_id": previous},
        after={
            "logo_file_id": file_id,
            "content_type": image.content_type,
            "size_bytes": image.size_bytes,
            "sha256": image.sha256,
            "width": image.width,
            "height": image.height,
        },
    )
    return org


def remove_logo(
    session: Session, actor_id: UserId, organization_id: OrganizationId
) -> Organization:
    """The organization without a logo (a repeat is a no-op); the file is released."""
    g = guard(session, actor_id, Capability.ORG_UPDATE, Scope.organization(organization_id))
    org = _locked(session, organization_id)
    previous = org.logo_file_id
    if previous is None:
        return org
    org.logo_file_id = None
    session.flush()
    release_file(session, previous, DELETE_BLOB_JOB)
    g.audit(
        "organization_logo.removed",
        "organization",
        org.id,
        before={"logo_file_id": previous},
        after={"logo_file_id": None},
    )
    return org
