"""A DP's owner: a signed-in user, or whoever holds the anonymous `dp_token` it was made
with. Owners read their DPs whatever their status, and delete them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.errors import Unauthorized
from admitone.core.files import File
from admitone.core.ids import DpCampaignId, GeneratedDpId, UserId
from admitone.core.pagination import Keyset, SortKey
from admitone.dp import errors
from admitone.dp.models import DpStatus, GeneratedDp
from admitone.dp.service.rules import release_file, token_hash

NEWEST = Keyset(
    SortKey(GeneratedDp.created_at.expression, datetime, descending=True),
    SortKey(GeneratedDp.id.expression, str, descending=True),
)


def own_dp(
    session: Session,
    dp_id: GeneratedDpId,
    user_id: UserId | None,
    dp_token: str | None,
    *,
    lock: bool = False,
) -> GeneratedDp:
    """The DP if the caller owns it (by account or by token) and has not deleted it; else
    `dp_not_found` (a stranger learns nothing). With neither credential: 401."""
    if user_id is None and dp_token is None:
        raise Unauthorized("Sign in, or send the DP's `X-DP-Token`.")
    query = select(GeneratedDp).where(
        GeneratedDp.id == dp_id, GeneratedDp.status != DpStatus.DELETED
    )
    if lock:
        query = query.with_for_update()
    dp = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if dp is None:
        raise errors.DpNotFound()
    by_user = user_id is not None and dp.owner_user_id == user_id
    by_token = (
        dp_token is not None
        and dp.owner_token_hash is not None
        and dp.owner_token_hash == token_hash(dp_token)
    )
    if not (by_user or by_token):
        raise errors.DpNotFound()
    return dp


def own_dp_image(
    session: Session, dp_id: GeneratedDpId, user_id: UserId | None, dp_token: str | None
) -> tuple[DpCampaignId, File]:
    dp = own_dp(session, dp_id, user_id, dp_token)
    file = session.get(File, dp.output_file_id) if dp.output_file_id else None
    if file is None:
        raise errors.DpNotFound()
    return dp.campaign_id, file


def my_dps(
    session: Session, user_id: UserId, *, limit: int, cursor: str | None
) -> tuple[list[GeneratedDp], str | None]:
    """The user's DPs, newest first, whatever their moderation status (not deleted ones)."""
    query = select(GeneratedDp).where(
        GeneratedDp.owner_user_id == user_id, GeneratedDp.status != DpStatus.DELETED
    )
    return NEWEST.page(session, query, limit=limit, cursor=cursor)


def delete_dp(
    session: Session, dp_id: GeneratedDpId, user_id: UserId | None, dp_token: str | None
) -> None:
    """Gone from every public place at commit (gallery, share page, public image); its
    image's row is deleted and its blob by the `dp.delete_blob` job after the commit. The
    row stays, without texts, for the campaign's counts and its share page's "removed"."""
    dp = own_dp(session, dp_id, user_id, dp_token, lock=True)
    file_id = dp.output_file_id
    dp.status = DpStatus.DELETED
    dp.deleted_at = utcnow()
    dp.output_file_id = None
    dp.texts = {}
    dp.share_to_hub = False
    session.flush()
    if file_id is not None:
        release_file(session, file_id)
