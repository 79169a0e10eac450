"""Cover images: recording an uploaded cover, removing it, and finding it for display.

The route cleans the upload (`prepare_cover`) and stores its blob outside any transaction,
then `set_cover` records the `files` row and points the event at it in one mutation. A file
an event stops using is released: its row is deleted unless another row still refers to it
(the foreign keys decide), and the job `events.delete_blob` deletes the blob once that
mutation has committed, never before.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import record_audit
from admitone.core import files
from admitone.core.files import File, record_image_file
from admitone.core.ids import EventId, FileId, OrganizationId, UserId
from admitone.core.images import CleanImage, clean_image
from admitone.events import errors
from admitone.events.models import PUBLIC_PAGE, Event
from admitone.events.service.rules import ensure_editable, guard_event

COVER_MAX_PIXELS = 40_000_000
COVER_MAX_SIDE = 2400
DELETE_BLOB_JOB = "events.delete_blob"


def prepare_cover(data: bytes) -> CleanImage:
    """The upload as it will be stored: see `core.images.clean_image` for what is refused."""
    return clean_image(data, max_pixels=COVER_MAX_PIXELS, max_side=COVER_MAX_SIDE)


def cover_key(event_id: str, file_id: str, extension: str) -> str:
    return f"covers/{event_id}/{file_id}.{extension}"


def check_cover_change(session: Session, user_id: UserId, event_id: EventId) -> None:
    """What `set_cover` will check, asked before the upload is decoded: a caller who may not
    change the event costs no image work."""
    ensure_editable(guard_event(session, user_id, Capability.EVENT_UPDATE, event_id))


def set_cover(
    session: Session,
    user_id: UserId,
    event_id: EventId,
    file_id: FileId,
    storage_key: str,
    image: CleanImage,
) -> Event:
    """Records the stored image and makes it the event's cover; the previous cover is
    released. Raises as `update_event` does (`event_not_found`, `event_not_editable`)."""
    event = guard_event(session, user_id, Capability.EVENT_UPDATE, event_id, lock=True)
    ensure_editable(event)
    record_image_file(session, file_id, storage_key, image, user_id)
    previous = event.cover_file_id
    event.cover_file_id = file_id
    session.flush()
    if previous is not None:
        release_file(session, previous)
    record_audit(
        session,
        actor_user_id=user_id,
        action="event_cover.updated",
        target_type="event",
        target_id=event.id,
        organization_id=event.organization_id,
        before={"cover_file_id": previous},
        after={
            "cover_file_id": file_id,
            "content_type": image.content_type,
            "size_bytes": image.size_bytes,
            "sha256": image.sha256,
        },
    )
    return event


def remove_cover(session: Session, user_id: UserId, event_id: EventId) -> Event:
    """The event without a cover (a repeat is a no-op); the file is released."""
    event = guard_event(session, user_id, Capability.EVENT_UPDATE, event_id, lock=True)
    ensure_editable(event)
    previous = event.cover_file_id
    if previous is None:
        return event
    event.cover_file_id = None
    session.flush()
    release_file(session, previous)
    record_audit(
        session,
        actor_user_id=user_id,
        action="event_cover.removed",
        target_type="event",
        target_id=event.id,
        organization_id=event.organization_id,
        before={"cover_file_id": previous},
        after={"cover_file_id": None},
    )
    return event


def release_file(session: Session, file_id: str) -> None:
    """Deletes the file's row, unless a row still refers to it (another event of the
    organization given the same cover, an avatar); its blob goes after commit."""
    files.release_file(session, file_id, DELETE_BLOB_JOB)


def check_cover_reuse(
    session: Session, organization_id: OrganizationId, file_id: str, current: str | None = None
) -> None:
    """A `cover_file_id` sent in an event body (rather than uploaded) must be the event's own
    cover or the cover of another event of the same organization; anything else (another
    organization's file, an avatar, an unknown id) is `unknown_file`, so no file of another
    tenant can be shown on this event's page."""
    if file_id == current:
        return
    # A shared lock on the file row: a concurrent release of this file (its event got a new
    # cover) then either waits for us and keeps the file, or has deleted it and we refuse,
    # instead of a foreign-key error at flush.
    if session.scalar(select(File.id).where(File.id == file_id).with_for_update(read=True)) is None:
        raise errors.UnknownFile("No cover image of this organization has this id.")
    used = session.scalar(
        select(Event.id)
        .where(Event.organization_id == organization_id, Event.cover_file_id == file_id)
        .limit(1)
    )
    if used is None:
        raise errors.UnknownFile("No cover image of this organization has this id.")


def event_cover(session: Session, user_id: UserId, event_id: EventId) -> File:
    """The cover of an event the caller may read, whatever its status."""
    event = guard_event(session, user_id, Capability.EVENT_READ, event_id)
    file = session.get(File, event.cover_file_id) if event.cover_file_id else None
    if file is None:
        raise errors.CoverNotFound()
    return file


def public_cover(session: Session, slug: str) -> File:
    """The cover of an event the public page shows (`public_event`: public or unlisted, and
    published, also when since cancelled or ended); anything else is `event_not_found`."""
    row = session.execute(
        select(Event.id, File)
        .outerjoin(File, File.id == Event.cover_file_id)
        .where(Event.slug == slug, *PUBLIC_PAGE)
    ).one_or_none()
    if row is None:
        raise errors.EventNotFound()
    if row[1] is None:
        raise errors.CoverNotFound()
    file: File = row[1]
    return file
