"""DP routes: organizers manage campaigns and templates and read their stats; anyone makes a
DP on a published campaign, reads the hub and galleries; owners read and delete theirs."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile

from admitone.auth.deps import CurrentUser, OptionalUser
from admitone.core.files import File as StoredFile
from admitone.core.http import Db, Page, Paging, app_settings, upload_limit
from admitone.core.ids import DpTemplateId, FileId
from admitone.core.images import read_limited
from admitone.dp import errors, service
from admitone.dp.models import DpCampaign, DpTemplate, GeneratedDp
from admitone.dp.render import InvalidLayout, load_frame, parse_layout
from admitone.dp.schemas import (
    CampaignCreate,
    CampaignOut,
    CampaignUpdate,
    DpOut,
    Moderation,
    Prefill,
    PublicCampaignOut,
    PublicEventRef,
    PublicTemplate,
    PublicTemplateText,
    StatsOut,
    TemplateOut,
    TemplateUpdate,
)
from admitone.integrations.storage import StorageError
from admitone.settings import Settings

log = logging.getLogger(__name__)

from admitone.dp.views import (  # noqa: E402
    IMAGE_RESPONSES,
    CampaignPath,
    DpPath,
    DpToken,
    EventPath,
    SlugPath,
    TemplatePath,
    base_url,
    image_response,
    share_url,
    storage_of,
)

api_router = APIRouter(tags=["dp"])


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        401: "Not signed in (`unauthorized`).",
        403: "The role lacks `dp.manage` (`capability_required`).",
        404: "No such campaign, template or DP, or not visible to the caller.",
        409: "The campaign's state refuses the change (`dp_campaign_not_editable`, ...).",
        413: "The file is over the upload limit (`file_too_large`).",
        415: "Not an image this route takes (`unsupported_image_type`).",
        422: "Invalid input (`invalid_layout` naming the `field`, `image_too_large`, ...).",
        503: "The file store failed (`storage_unavailable`); try again.",
    }
    return {c: {"description": text[c]} for c in codes}


_GUARDED = _responses(401, 403, 404)
_CHANGE = _responses(401, 403, 404, 409, 422)


def campaign_out(settings: Settings, c: DpCampaign) -> CampaignOut:
    return CampaignOut(
        id=c.id,
        event_id=c.event_id,
        title=c.title,
        slug=c.slug,
        description=c.description,
        verified_only=c.verified_only,
        status=c.status,
        page_url=f"{base_url(settings)}/dp/{c.slug}",
        published_at=c.published_at,
        closed_at=c.closed_at,
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def template_out(settings: Settings, t: DpTemplate) -> TemplateOut:
    return TemplateOut(
        id=t.id,
        campaign_id=t.campaign_id,
        name=t.name,
        position=t.position,
        layout=t.layout,
        preview_url=f"{base_url(settings)}/api/v1/dp-templates/{t.id}/preview",
        created_at=t.created_at,
        updated_at=t.updated_at,
    )


def dp_out(settings: Settings, dp: GeneratedDp, dp_token: str | None = None) -> DpOut:
    base = base_url(settings)
    visible = dp.status == "visible" and dp.output_file_id is not None
    return DpOut(
        id=dp.id,
        campaign_id=dp.campaign_id,
        template_id=dp.template_id,
        status=dp.status,
        verified=dp.is_verified,
        texts=dp.texts,
        share_to_hub=dp.share_to_hub,
        image_url=f"{base}/api/v1/dps/{dp.id}/image" if dp.output_file_id else None,
        public_image_url=f"{base}/api/v1/public/dps/{dp.id}/image" if visible else None,
        share_url=share_url(settings, dp.share_code),
        referral_code=dp.share_code,
        width=dp.width,
        height=dp.height,
        moderation=Moderation(
            verdict=dp.moderation_verdict,
            reasons=dp.moderation_reasons,
            classifier=dp.classifier_state,
            cleared=dp.cleared_at is not None,
        ),
        created_at=dp.created_at,
        dp_token=dp_token,
    )


# --- campaigns ---------------------------------------------------------------------------


@api_router.post(
    "/events/{event_id}/dp-campaigns", status_code=201, response_model=CampaignOut,
    responses=_CHANGE,
)  # fmt: skip
def create_campaign(
    request: Request, db: Db, actor: CurrentUser, event_id: EventPath, body: CampaignCreate
) -> CampaignOut:
    campaign = db.mutation(service.create_campaign, actor.user_id, event_id, body)
    return campaign_out(app_settings(request), campaign)


@api_router.get(
    "/events/{event_id}/dp-campaigns", response_model=Page[CampaignOut], responses=_GUARDED
)
def list_campaigns(
    request: Request, db: Db, actor: CurrentUser, event_id: EventPath, paging: Paging
) -> Page[CampaignOut]:
    rows, next_cursor = db.query(
        service.list_campaigns, actor.user_id, event_id, limit=paging.limit, cursor=paging.cursor
    )
    settings = app_settings(request)
    return Page(items=[campaign_out(settings, c) for c in rows], next_cursor=next_cursor)


@api_router.get("/dp-campaigns/{campaign_id}", response_model=CampaignOut, responses=_GUARDED)
def get_campaign(
    request: Request, db: Db, actor: CurrentUser, campaign_id: CampaignPath
) -> CampaignOut:
    campaign = db.query(service.get_campaign, actor.user_id, campaign_id)
    return campaign_out(app_settings(request), campaign)


@api_router.patch("/dp-campaigns/{campaign_id}", response_model=CampaignOut, responses=_CHANGE)
def update_campaign(
    request: Request, db: Db, actor: CurrentUser, campaign_id: CampaignPath, body: CampaignUpdate
) -> CampaignOut:
    campaign = db.mutation(service.update_campaign, actor.user_id, campaign_id, body)
    return campaign_out(app_settings(request), campaign)


@api_router.post(
    "/dp-campaigns/{campaign_id}/publish", response_model=CampaignOut, responses=_CHANGE
)
def publish_campaign(
    request: Request, db: Db, actor: CurrentUser, campaign_id: CampaignPath
) -> CampaignOut:
    """`draft -> published` (needs a template: `dp_campaign_not_publishable`)."""
    campaign = db.mutation(service.publish_campaign, actor.user_id, campaign_id)
    return campaign_out(app_settings(request), campaign)


@api_router.post("/dp-campaigns/{campaign_id}/close", response_model=CampaignOut, responses=_CHANGE)
def close_campaign(
    request: Request, db: Db, actor: CurrentUser, campaign_id: CampaignPath
) -> CampaignOut:
    """No new DPs from now on; the page and the DPs' share pages stay."""
    campaign = db.mutation(service.close_campaign, actor.user_id, campaign_id)
    return campaign_out(app_settings(request), campaign)


@api_router.get("/dp-campaigns/{campaign_id}/stats", response_model=StatsOut, responses=_GUARDED)
def campaign_stats(db: Db, actor: CurrentUser, campaign_id: CampaignPath) -> StatsOut:
    """Views, generations, downloads, shares (share pages opened), distinct supporters, and
    the paid orders and tickets placed with the campaign's referral codes; `by_day` in UTC."""
    service.flush(db)
    return db.query(service.campaign_stats, actor.user_id, campaign_id)


# --- templates ---------------------------------------------------------------------------


def _layout_json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidLayout("The layout is not valid JSON.", field="layout") from exc
    if not isinstance(data, dict):
        raise InvalidLayout("The layout must be a JSON object.", field="layout")
    return data


@api_router.post(
    "/dp-campaigns/{campaign_id}/templates",
    status_code=201,
    response_model=TemplateOut,
    responses=_responses(401, 403, 404, 409, 413, 415, 422, 503),
)
def add_template(
    request: Request,
    db: Db,
    actor: CurrentUser,
    campaign_id: CampaignPath,
    file: Annotated[
        UploadFile, File(description="The frame: a PNG (with transparency) or a JPEG.")
    ],
    layout: Annotated[str, Form(max_length=20_000, description="The layout, as JSON text.")],
    name: Annotated[str, Form(min_length=1, max_length=200)] = "Default",
) -> TemplateOut:
    """Validates the layout (`invalid_layout` naming the field) and the frame against it,
    stores the frame and records the template (`dp.manage`)."""
    settings = app_settings(request)
    data = read_limited(file.file, settings.dp.max_frame_bytes)
    layout_data = _layout_json(layout)
    db.query(service.check_template_change, actor.user_id, campaign_id)
    parsed = parse_layout(layout_data)
    load_frame(
        data, parsed, max_bytes=settings.dp.max_frame_bytes
    )  # a PNG or a JPEG of the layout's proportions, or refused
    png = data.startswith(b"\x89PNG")
    file_id = FileId.new()
    stored = service.StoredFrame(
        file_id=file_id,
        storage_key=service.frame_key(campaign_id, file_id, "png" if png else "jpg"),
        content_type="image/png" if png else "image/jpeg",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    storage = storage_of(request)
    try:
        storage.put(stored.storage_key, data, stored.content_type)
    except StorageError as exc:
        log.exception("frame for %s could not be stored", campaign_id)
        raise errors.StorageUnavailable() from exc
    try:
        template = db.mutation(
            service.add_template, actor.user_id, campaign_id, name, layout_data, stored
        )
    except BaseException:
        with contextlib.suppress(StorageError):
            storage.delete(stored.storage_key)  # never recorded, so nothing refers to it
        raise
    return template_out(settings, template)


@api_router.get("/dp-templates/{template_id}", response_model=TemplateOut, responses=_GUARDED)
def get_template(
    request: Request, db: Db, actor: CurrentUser, template_id: TemplatePath
) -> TemplateOut:
    return template_out(
        app_settings(request), db.query(service.get_template, actor.user_id, template_id)
    )


@api_router.patch("/dp-templates/{template_id}", response_model=TemplateOut, responses=_CHANGE)
def update_template(
    request: Request, db: Db, actor: CurrentUser, template_id: TemplatePath, body: TemplateUpdate
) -> TemplateOut:
    """Renames, reorders or changes the layout (validated against the stored frame)."""
    if body.layout is not None:
        template, frame_file = db.query(service.template_frame, actor.user_id, template_id)
        load_frame(_blob(request, frame_file), parse_layout(body.layout))
    changes = body.model_dump(exclude_unset=True)
    template = db.mutation(service.update_template, actor.user_id, template_id, changes)
    return template_out(app_settings(request), template)


@api_router.delete(
    "/dp-templates/{template_id}", status_code=204, response_class=Response, responses=_GUARDED
)
def delete_template(db: Db, actor: CurrentUser, template_id: TemplatePath) -> Response:
    """Retires the template: gone from the campaign page; DPs made from it stay."""
    db.mutation(service.delete_template, actor.user_id, template_id)
    return Response(status_code=204)


@api_router.get(
    "/dp-templates/{template_id}/preview", response_class=Response,
    responses={**IMAGE_RESPONSES, **_GUARDED},
)  # fmt: skip
def template_preview(
    request: Request, db: Db, actor: CurrentUser, template_id: TemplatePath
) -> Response:
    """The template rendered with a sample photo and sample texts."""
    template, frame_file = db.query(service.template_frame, actor.user_id, template_id)
    rendered = service.preview(template, lambda: _blob(request, frame_file))
    return Response(
        rendered.data,
        media_type=rendered.content_type,
        headers={"Cache-Control": "private, no-cache"},
    )


@api_router.get(
    "/public/dp-templates/{template_id}/preview", response_class=Response,
    responses={**IMAGE_RESPONSES, 404: {"description": "No template of a public campaign."}},
)  # fmt: skip
def public_template_preview(request: Request, db: Db, template_id: TemplatePath) -> Response:
    template, frame_file = db.query(service.public_template, template_id)
    rendered = service.preview(template, lambda: _blob(request, frame_file))
    return Response(
        rendered.data,
        media_type=rendered.content_type,
        headers={"Cache-Control": "public, max-age=300"},
    )


def _blob(request: Request, stored: StoredFile) -> bytes:
    try:
        return storage_of(request).get(stored.storage_key)
    except StorageError as exc:
        log.exception("file %s could not be read", stored.id)
        raise errors.StorageUnavailable() from exc


# --- public campaign and generation ------------------------------------------------------


def public_campaign_out(settings: Settings, found: service.PublicCampaign) -> PublicCampaignOut:
    base = base_url(settings)
    c, e = found.campaign, found.event
    return PublicCampaignOut(
        id=c.id,
        title=c.title,
        slug=c.slug,
        description=c.description,
        status=c.status,
        verified_only=c.verified_only,
        event=PublicEventRef(
            id=e.id,
            title=e.title,
            slug=e.slug,
            starts_at=e.starts_at,
            url=f"{base}/events/{e.slug}",
        ),
        templates=[
            PublicTemplate(
                id=t.id,
                name=t.name,
                width=int(t.layout.get("width", 0)),
                height=int(t.layout.get("height", 0)),
                preview_url=f"{base}/api/v1/public/dp-templates/{t.id}/preview",
                texts=[
                    PublicTemplateText(key=str(x["key"]), required=bool(x.get("required", False)))
                    for x in t.layout.get("texts", [])
                ],
            )
            for t in found.templates
        ],
        prefill=Prefill(name=found.prefill_name or None) if found.holds_pass else None,
    )


@api_router.get(
    "/public/dp-campaigns/{slug}",
    response_model=PublicCampaignOut,
    responses={404: {"description": "No published campaign has this slug."}},
)
def public_campaign(
    request: Request, db: Db, actor: OptionalUser, slug: SlugPath
) -> PublicCampaignOut:
    """A published (or closed) campaign's page data; with a bearer token of a pass holder of
    the event, `prefill.name` is the pass's attendee name. Counts a view."""
    settings = app_settings(request)
    found = db.query(service.public_campaign, slug, actor.user_id if actor else None)
    service.count(db, found.campaign.id, "views", settings.dp.counters_flush_seconds)
    return public_campaign_out(settings, found)


@api_router.post(
    "/dp-campaigns/{campaign_id}/generate",
    status_code=201,
    response_model=DpOut,
    responses={
        **_responses(404, 409, 413, 415, 422, 503),
        403: {"description": "A `verified_only` campaign and no valid pass (`pass_required`)."},
    },
)
@upload_limit(lambda settings: settings.dp.max_upload_bytes)
def generate(
    request: Request,
    db: Db,
    actor: OptionalUser,
    campaign_id: CampaignPath,
    file: Annotated[UploadFile, File(description="The photo: JPEG, PNG, WebP or HEIC.")],
    template_id: Annotated[DpTemplateId, Form()],
    texts: Annotated[
        str, Form(max_length=5000, description='A JSON object: {"name": "Ada"}')
    ] = "{}",
    share_to_hub: Annotated[bool, Form()] = False,
    dp_token: DpToken = None,
) -> DpOut:
    """Makes a DP on a published campaign, signed in or not. An anonymous caller gets a
    `dp_token` (send it as `X-DP-Token` to read or delete the DP, and on the next generate to
    keep all its DPs under one token). The photo is not kept; only the picture is."""
    settings = app_settings(request)
    photo = read_limited(file.file, settings.dp.max_upload_bytes)
    try:
        raw = json.loads(texts)
    except ValueError as exc:
        raise errors.InvalidTexts("The texts are not valid JSON.") from exc
    made = service.generate_dp(
        db,
        storage_of(request),
        settings.dp,
        campaign_id=campaign_id,
        template_id=template_id,
        user_id=actor.user_id if actor else None,
        dp_token=dp_token,
        photo=photo,
        texts=service.parse_texts(raw),
        share_to_hub=share_to_hub,
        moderation=settings.moderation,
    )
    return dp_out(settings, made.dp, made.dp_token)


# --- owners ------------------------------------------------------------------------------


@api_router.get("/dps/{dp_id}", response_model=DpOut, responses=_responses(401, 404))
def get_dp(
    request: Request, db: Db, actor: OptionalUser, dp_id: DpPath, dp_token: DpToken = None
) -> DpOut:
    """The owner's view of a DP (bearer token, or `X-DP-Token`), whatever its status."""
    dp = db.query(service.own_dp, dp_id, actor.user_id if actor else None, dp_token)
    return dp_out(app_settings(request), dp)


@api_router.get(
    "/dps/{dp_id}/image",
    response_class=Response,
    responses={**IMAGE_RESPONSES, **_responses(401, 404)},
)
def get_dp_image(
    request: Request,
    db: Db,
    actor: OptionalUser,
    dp_id: DpPath,
    dp_token: DpToken = None,
    download: Annotated[bool, Query()] = False,
    if_none_match: Annotated[str | None, Header(max_length=2000)] = None,
) -> Response:
    """The DP's picture for its owner; `download=1` asks the browser to save it (and counts
    a download)."""
    campaign_id, stored = db.query(
        service.own_dp_image, dp_id, actor.user_id if actor else None, dp_token
    )
    if download:
        service.count(db, campaign_id, "downloads", app_settings(request).dp.counters_flush_seconds)
    return image_response(request, stored, "private, no-cache", if_none_match, download=download)


@api_router.delete(
    "/dps/{dp_id}", status_code=204, response_class=Response, responses=_responses(401, 404)
)
def delete_dp(db: Db, actor: OptionalUser, dp_id: DpPath, dp_token: DpToken = None) -> Response:
    """Deletes the owner's DP: gone from the gallery, its public image 404, its share page
    says it was removed."""
    db.mutation(service.delete_dp, dp_id, actor.user_id if actor else None, dp_token)
    return Response(status_code=204)


@api_router.get("/me/dps", response_model=Page[DpOut], responses=_responses(401))
def my_dps(request: Request, db: Db, actor: CurrentUser, paging: Paging) -> Page[DpOut]:
    rows, next_cursor = db.query(
        service.my_dps, actor.user_id, limit=paging.limit, cursor=paging.cursor
    )
    settings = app_settings(request)
    return Page(items=[dp_out(settings, d) for d in rows], next_cursor=next_cursor)


# The public hub (campaign listing, galleries, public DP images): a module of its own.
from admitone.dp import hub_routes as _hub  # noqa: E402
from admitone.dp import moderation_routes as _moderation  # noqa: E402

api_router.routes.extend(_hub.api_router.routes)
api_router.routes.extend(_moderation.api_router.routes)

# Batches (an organizer's CSV rendered by the workers): a module of their own.
from admitone.dp import batch_routes as _batches  # noqa: E402

api_router.routes.extend(_batches.api_router.routes)
