"""`/dp/{slug}`: a DP campaign's page (pick a template, a photo, the name; see, download and
share the result), and `/dp/s/{code}`: a DP's share page, which unfurls with its picture.

The campaign page's script posts the photo to the API's generate route (the same service
the API uses), with the anonymous `dp_token` it keeps in the browser's storage.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from admitone.core.http import Db, app_settings
from admitone.dp import errors
from admitone.dp import service as dp
from admitone.web.render import render_page

router = APIRouter(include_in_schema=False)


@router.get("/dp/{slug}", response_class=HTMLResponse)
def campaign_page(
    request: Request, db: Db, slug: Annotated[str, Path(max_length=120)]
) -> HTMLResponse:
    settings = app_settings(request)
    try:
        found = db.query(dp.public_campaign, slug, None)
    except errors.CampaignNotFound:
        return render_page(request, "dp/missing.html", status_code=404)
    dp.count(db, found.campaign.id, "views", settings.dp.counters_flush_seconds)
    templates = [
        {
            "id": t.id,
            "name": t.name,
            "preview_url": f"/api/v1/public/dp-templates/{t.id}/preview",
            "photo": json.dumps(
                {"width": t.layout["photo"]["width"], "height": t.layout["photo"]["height"]}
            ),
            "texts": [
                {"key": str(x["key"]), "required": bool(x.get("required", False))}
                for x in t.layout.get("texts", [])
            ],
        }
        for t in found.templates
    ]
    return render_page(
        request,
        "dp/campaign.html",
        campaign=found.campaign,
        event=found.event,
        templates=templates,
        open=found.campaign.status == "published",
        max_bytes=settings.dp.max_upload_bytes,
    )


@router.get("/dp/s/{code}", response_class=HTMLResponse)
def share_page(request: Request, db: Db, code: Annotated[str, Path(max_length=16)]) -> HTMLResponse:
    settings = app_settings(request)
    try:
        found = db.query(dp.share_page, code)
    except errors.DpNotFound:
        return render_page(request, "dp/missing.html", status_code=404)
    if found.dp is not None:
        dp.count(db, found.campaign.id, "shares", settings.dp.counters_flush_seconds)
    base = settings.base_url.rstrip("/")
    return render_page(
        request,
        "dp/share.html",
        status_code=200 if found.dp is not None else 410,
        # A takedown must show at once: caches revalidate before every use.
        headers={"Cache-Control": "public, no-cache"},
        shown=found.dp,
        campaign=found.campaign,
        event=found.event,
        page_url=f"{base}/dp/s/{code}",
        image_url=f"{base}/api/v1/public/dps/{found.dp.id}/image" if found.dp else None,
        event_url=f"{base}/events/{found.event.slug}?ref={code}",
        campaign_url=f"{base}/dp/{found.campaign.slug}",
    )
