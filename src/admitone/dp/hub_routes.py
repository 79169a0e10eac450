"""The public DP hub: published campaigns (search, newest, trending), each campaign's
gallery of allowed, opted-in DPs, and a public DP's image (gone once removed)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from admitone.core.http import Db, Page, Paging, app_settings
from admitone.dp import service
from admitone.dp.schemas import (
    GalleryItem,
    HubCampaign,
    HubSort,
    PublicEventRef,
)
from admitone.dp.views import (
    IMAGE_RESPONSES,
    DpPath,
    SlugPath,
    base_url,
    image_response,
    share_url,
)

log = logging.getLogger(__name__)


api_router = APIRouter(tags=["dp"])

# A public DP may be taken down at any moment: caches revalidate before every use.
PUBLIC_IMAGE_CACHE = "public, no-cache"
UNCLEARED_IMAGE_CACHE = "no-store"


# --- hub ---------------------------------------------------------------------------------


@api_router.get(
    "/public/dp-hub",
    response_model=Page[HubCampaign],
    responses={422: {"description": "A bad query or cursor (`invalid_cursor`)."}},
)
def dp_hub(
    request: Request,
    db: Db,
    paging: Paging,
    q: Annotated[str | None, Query(max_length=100)] = None,
    sort: Annotated[HubSort, Query()] = "newest",
) -> Page[HubCampaign]:
    """Published campaigns: `newest` first, or `trending` (most DPs made in the last 7 days)."""
    rows, next_cursor = db.query(
        service.hub,
        q=(q or "").strip() or None,
        sort=sort,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    base = base_url(app_settings(request))
    items = [
        HubCampaign(
            id=r.campaign.id,
            title=r.campaign.title,
            slug=r.campaign.slug,
            description=r.campaign.description,
            event=PublicEventRef(
                id=r.event.id,
                title=r.event.title,
                slug=r.event.slug,
                starts_at=r.event.starts_at,
                url=f"{base}/events/{r.event.slug}",
            ),
            page_url=f"{base}/dp/{r.campaign.slug}",
            recent_generations=r.recent,
            published_at=r.campaign.published_at,
        )
        for r in rows
    ]
    return Page(items=items, next_cursor=next_cursor)


@api_router.get(
    "/public/dp-campaigns/{slug}/gallery",
    response_model=Page[GalleryItem],
    responses={404: {"description": "No published campaign has this slug."}},
)
def dp_gallery(request: Request, db: Db, slug: SlugPath, paging: Paging) -> Page[GalleryItem]:
    """The campaign's allowed DPs whose owners opted in, newest first."""
    rows, next_cursor = db.query(service.gallery, slug, limit=paging.limit, cursor=paging.cursor)
    settings = app_settings(request)
    base = base_url(settings)
    items = [
        GalleryItem(
            id=d.id,
            image_url=f"{base}/api/v1/public/dps/{d.id}/image",
            share_url=share_url(settings, d.share_code),
            verified=d.is_verified,
            width=d.width,
            height=d.height,
            created_at=d.created_at,
        )
        for d in rows
    ]
    return Page(items=items, next_cursor=next_cursor)


@api_router.get(
    "/public/dps/{dp_id}/image",
    response_class=Response,
    responses={
        **IMAGE_RESPONSES,
        404: {"description": "No public DP (deleted, taken down, in review)."},
    },
)
def public_dp_image(
    request: Request,
    db: Db,
    dp_id: DpPath,
    download: Annotated[bool, Query()] = False,
    if_none_match: Annotated[str | None, Header(max_length=2000)] = None,
) -> Response:
    """A visible DP's picture (what its share page shows); 404 once deleted, hidden or
    taken down. Caches must ask again on every use (`no-cache`: a 304 by its ETag while it
    is public), so a takedown is seen at once; one whose checks are not all in yet is not
    stored by any cache (`no-store`)."""
    campaign_id, stored, cleared = db.query(service.public_dp_image, dp_id)
    if download:
        service.count(db, campaign_id, "downloads", app_settings(request).dp.counters_flush_seconds)
    cache = PUBLIC_IMAGE_CACHE if cleared else UNCLEARED_IMAGE_CACHE
    return image_response(request, stored, cache, if_none_match, download=download)
