"""Moderation routes: the support service's checks for other clients, and the block-list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from admitone.auth.deps import CurrentUser
from admitone.core.http import Db, app_settings
from admitone.core.images import read_limited
from admitone.integrations.moderation import decode_for_checks
from admitone.moderation import service
from admitone.moderation.schemas import BlockedImageOut, TextCheckIn, VerdictOut

api_router = APIRouter(tags=["moderation"])
support_router = APIRouter(tags=["moderation"])

_IMAGE_UPLOAD: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in (`unauthorized`)."},
    413: {"description": "The file is over `max_upload_bytes` (`file_too_large`)."},
    415: {"description": "Not a JPEG, PNG or WebP image (`unsupported_image_type`)."},
    422: {
        "description": "The image does not decode (`invalid_image`) or has too many pixels "
        "(`image_too_large`)."
    },
}


@support_router.post("/moderation/image", response_model=VerdictOut, responses=_IMAGE_UPLOAD)
def check_image(
    request: Request,
    db: Db,
    actor: CurrentUser,
    file: Annotated[UploadFile, File(description="A JPEG, PNG or WebP image.")],
) -> VerdictOut:
    """Runs the platform's image checks (hash block-list, classifier when installed) on the
    image: `{verdict: allow|review|block, reasons}`. Nothing is stored."""
    settings = app_settings(request)
    data = read_limited(file.file, settings.max_upload_bytes)
    blocked = db.query(service.blocked_hashes, settings.moderation)
    image = decode_for_checks(data, max_pixels=settings.moderation.max_image_pixels)
    return VerdictOut.of(service.judge_image(settings.moderation, blocked, image))


@support_router.post(
    "/moderation/text",
    response_model=VerdictOut,
    responses={401: {"description": "Not signed in (`unauthorized`)."}},
)
def check_text(request: Request, actor: CurrentUser, body: TextCheckIn) -> VerdictOut:
    """Runs the word lists on a text (a name, a title): `{verdict, reasons}`."""
    return VerdictOut.of(service.check_text(app_settings(request).moderation, body.text))


@api_router.post(
    "/moderation/blocklist",
    response_model=BlockedImageOut,
    status_code=201,
    responses={
        **_IMAGE_UPLOAD,
        200: {"description": "The image's hash was already blocked (`created: false`)."},
        403: {"description": "Not a platform moderator (`capability_required`, dp.moderate)."},
        404: {"description": "No platform role at all."},
    },
)
def block_image(
    request: Request,
    response: Response,
    db: Db,
    actor: CurrentUser,
    file: Annotated[UploadFile, File(description="The image to block (JPEG, PNG, WebP).")],
    reason: Annotated[str | None, Form(max_length=500)] = None,
) -> BlockedImageOut:
    """Blocks the image's perceptual hash (capability `dp.moderate`, platform moderators):
    any later upload within `hash_max_distance` bits of it is refused. Audited
    `image_hash.blocked`. (Blocking a generated DP's photo by `{dp_id}` comes with the DP
    moderation routes.)"""
    settings = app_settings(request)
    data = read_limited(file.file, settings.max_upload_bytes)
    db.query(service.check_can_block, actor.user_id)
    image_hash = service.image_hash_of(settings.moderation, data)
    entry, created = db.mutation(service.block_image, actor.user_id, image_hash, reason=reason)
    if not created:
        response.status_code = 200
    return BlockedImageOut.of(entry, created)
