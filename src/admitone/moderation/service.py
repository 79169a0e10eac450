"""The moderation checks as the platform runs them, and the image block-list.

`check_image` and `check_text` are what the `dp` domain's single `decide(...)` and the
support routes call. The block-list's hashes are kept per process as one numpy array: a
change made in this process replaces it at once; a change made by another process is seen
when the table's row count or newest id differs, asked at most every
`blocklist_check_seconds`. Image work runs outside any write transaction.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, record_audit, require_capability
from admitone.core.db import after_commit
from admitone.core.ids import BlockedImageHashId, UserId
from admitone.integrations import moderation as checks
from admitone.integrations.moderation import CheckImage, HashArray, Verdict
from admitone.integrations.moderation.phash import hash_array
from admitone.moderation.errors import TextTooLong
from admitone.moderation.models import BlockedImageHash, BlockSource
from admitone.settings import ModerationSettings

MAX_TEXT_LENGTH = 2000


# --- the per-process block-list -------------------------------------------------------------


@dataclass
class _Cached:
    count: int
    newest: str | None
    hashes: HashArray
    checked_at: float


_lock = threading.Lock()
# Per database handle (the Engine in production; each test's own connection in tests).
_cache: weakref.WeakKeyDictionary[Any, _Cached] = weakref.WeakKeyDictionary()


def _key(session: Session) -> Any:
    """The database the session reads: its connection in tests (one per test), else the
    engine's pool (shared by the engine and its `execution_options` copies)."""
    bind = session.get_bind()
    return bind if isinstance(bind, Connection) else bind.pool


def _fingerprint(session: Session) -> tuple[int, str | None]:
    count, newest = session.execute(select(func.count(), func.max(BlockedImageHash.id))).one()
    return int(count), newest


def blocked_hashes(session: Session, settings: ModerationSettings) -> HashArray:
    """Every blocked hash (int64 array), from this process's copy when it is current."""
    key = _key(session)
    now = time.monotonic()
    cached = _cache.get(key)
    if cached is not None and now - cached.checked_at < settings.blocklist_check_seconds:
        return cached.hashes
    count, newest = _fingerprint(session)
    if cached is not None and (cached.count, cached.newest) == (count, newest):
        cached.checked_at = now
        return cached.hashes
    hashes = hash_array(list(session.scalars(select(BlockedImageHash.hash))))
    with _lock:
        _cache[key] = _Cached(count, newest, hashes, now)
    return hashes


def _forget(key: Any) -> None:
    with _lock:
        _cache.pop(key, None)


# --- checks ---------------------------------------------------------------------------------


def judge_image(settings: ModerationSettings, blocked: HashArray, image: CheckImage) -> Verdict:
    """The enabled image checks on already decoded pixels (no database)."""
    return checks.run_image_checks(
        checks.image_checks(settings, blocked),
        image,
        require_classifier=settings.require_classifier,
    )


def check_image(session: Session, settings: ModerationSettings, image_bytes: bytes) -> Verdict:
    """Decodes the upload (415/422 refusals as for every upload) and runs the enabled image
    checks against the current block-list. CPU-heavy with the classifier (~45 ms): call it
    from a job or outside a write transaction."""
    image = checks.decode_for_checks(image_bytes, max_pixels=settings.max_image_pixels)
    return judge_image(settings, blocked_hashes(session, settings), image)


def check_text(settings: ModerationSettings, text: str) -> Verdict:
    """The word lists on one text field (a name, a title, a report reason)."""
    if len(text) > MAX_TEXT_LENGTH:
        raise TextTooLong(f"At most {MAX_TEXT_LENGTH} characters are checked.")
    check = checks.text_check(settings)
    return check.check(text) if check is not None else Verdict.allow()


# --- the block-list ---------------------------------------------------------------------------


def image_hash_of(settings: ModerationSettings, image_bytes: bytes) -> int:
    """The hash `block_image` stores for an upload (decoded as every check decodes it)."""
    image = checks.decode_for_checks(image_bytes, max_pixels=settings.max_image_pixels)
    return checks.image_hash(image)


def block_image(
    session: Session,
    actor_user_id: UserId,
    image_hash: int,
    *,
    source: BlockSource = BlockSource.UPLOAD,
    source_id: str | None = None,
    reason: str | None = None,
) -> tuple[BlockedImageHash, bool]:
    """Adds a hash to the block-list (`dp.moderate` on the platform: moderators); returns the
    entry and whether it is new (a hash already listed is kept as it is). Audited
    `image_hash.blocked`."""
    require_capability(session, actor_user_id, Capability.DP_MODERATE, Scope.platform())
    existing = session.scalar(select(BlockedImageHash).where(BlockedImageHash.hash == image_hash))
    if existing is not None:
        return existing, False
    entry = BlockedImageHash(
        id=BlockedImageHashId.new(),
        hash=image_hash,
        source=source,
        source_id=source_id,
        reason=reason,
        added_by=actor_user_id,
    )
    try:
        with session.begin_nested():
            session.add(entry)
    except IntegrityError:  # listed by a concurrent call in the meantime
        existing = session.scalar(
            select(BlockedImageHash).where(BlockedImageHash.hash == image_hash)
        )
        assert existing is not None
        return existing, False
    record_audit(
        session,
        actor_user_id=actor_user_id,
        action="image_hash.blocked",
        target_type="blocked_image_hash",
        target_id=entry.id,
        after={
            "hash": f"{image_hash & 0xFFFF_FFFF_FFFF_FFFF:016x}",
            "source": source.value,
            "source_id": source_id,
            "reason": reason,
        },
    )
    key = _key(session)
    _forget(key)  # this transaction's own checks see it at once
    after_commit(session, lambda: _forget(key))
    return entry, True


def check_can_block(session: Session, actor_user_id: UserId) -> None:
    """What `block_image` checks, asked before an upload is decoded: a caller who may not
    block costs no image work."""
    require_capability(session, actor_user_id, Capability.DP_MODERATE, Scope.platform())
