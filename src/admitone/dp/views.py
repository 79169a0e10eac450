"""What the DP routes share: path parameters, the public base URL, the storage, share links."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Header, Path, Request, Response
from fastapi.responses import StreamingResponse

from admitone.core.files import File as StoredFile
from admitone.core.http import app_settings, etag_matches
from admitone.core.ids import DpCampaignId, DpTemplateId, EventId, GeneratedDpId
from admitone.dp import errors
from admitone.integrations.storage import BlobNotFound, Storage, StorageError, storage_for
from admitone.settings import Settings

log = logging.getLogger(__name__)

EventPath = Annotated[EventId, Path(description="An event id (`evt_...`).")]
CampaignPath = Annotated[DpCampaignId, Path(description="A DP campaign id (`dpc_...`).")]
TemplatePath = Annotated[DpTemplateId, Path(description="A DP template id (`dpt_...`).")]
DpPath = Annotated[GeneratedDpId, Path(description="A generated DP id (`dpg_...`).")]
SlugPath = Annotated[str, Path(max_length=120)]
DpToken = Annotated[
    str | None,
    Header(
        alias="X-DP-Token",
        max_length=100,
        description="The `dp_token` an anonymous generate returned (instead of signing in).",
    ),
]


def base_url(settings: Settings) -> str:
    return settings.base_url.rstrip("/")


def storage_of(request: Request) -> Storage:
    return storage_for(app_settings(request))


def share_url(settings: Settings, code: str) -> str:
    return f"{base_url(settings)}/dp/s/{code}?ref={code}"


IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The image.", "content": {"image/jpeg": {}, "image/png": {}}},
    304: {"description": "`If-None-Match` names the current image."},
}


def image_response(
    request: Request,
    stored: StoredFile,
    cache_control: str,
    if_none_match: str | None,
    *,
    download: bool = False,
) -> Response:
    etag = f'"{stored.sha256}"'
    headers = {"ETag": etag, "Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    if download:
        extension = "png" if stored.content_type == "image/png" else "jpg"
        headers["Content-Disposition"] = f'attachment; filename="dp.{extension}"'
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    try:
        chunks = storage_of(request).stream(stored.storage_key)
    except BlobNotFound as exc:
        log.error("file %s has no blob at %s", stored.id, stored.storage_key)
        raise errors.DpNotFound() from exc
    except StorageError as exc:
        log.exception("file %s could not be read", stored.id)
        raise errors.StorageUnavailable() from exc
    headers["Content-Length"] = str(stored.size_bytes)
    return StreamingResponse(chunks, media_type=stored.content_type, headers=headers)
