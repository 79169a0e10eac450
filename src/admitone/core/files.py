"""The files table: metadata of stored blobs (bytes live in the storage integration)."""

from __future__ import annotations

from sqlalchemy import String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from admitone.core import jobs
from admitone.core.db import Base, Timestamped, id_column
from admitone.core.ids import FileId
from admitone.core.images import CleanImage


class File(Timestamped, Base):
    __tablename__ = "files"

    id: Mapped[FileId] = id_column()
    storage_key: Mapped[str] = mapped_column(String(300), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    owner_user_id: Mapped[str | None] = mapped_column(String(32))


def record_image_file(
    session: Session, file_id: str, storage_key: str, image: CleanImage, owner_user_id: str
) -> None:
    """The row of a cleaned image just stored under `storage_key` (a cover, a logo)."""
    session.add(
        File(
            id=file_id,
            storage_key=storage_key,
            content_type=image.content_type,
            size_bytes=image.size_bytes,
            sha256=image.sha256,
            owner_user_id=owner_user_id,
        )
    )
    session.flush()


def release_file(session: Session, file_id: str, delete_blob_job: str) -> None:
    """Deletes the file's row unless a row still refers to it (the foreign keys refuse and
    the file stays); a deleted row's blob is deleted by `delete_blob_job` ({storage_key})
    after this transaction commits, never before."""
    storage_key = session.scalar(select(File.storage_key).where(File.id == file_id))
    if storage_key is None:
        return
    try:
        with session.begin_nested():
            session.execute(delete(File).where(File.id == file_id))
    except IntegrityError:
        return
    jobs.schedule(session, delete_blob_job, {"storage_key": storage_key})
