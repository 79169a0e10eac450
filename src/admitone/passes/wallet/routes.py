"""Apple's pass web service, at `webServiceURL` = `<base>/support/v1/wallet/apple`, with
Apple's own paths and status codes. Devices authenticate each pass with
`Authorization: ApplePass <authenticationToken>` (the token inside the pass).

- `POST   /v1/devices/{device}/registrations/{passType}/{serial}` `{"pushToken"}`:
  201 registered, 200 already registered, 401.
- `DELETE /v1/devices/{device}/registrations/{passType}/{serial}`: 200, 401.
- `GET    /v1/devices/{device}/registrations/{passType}?passesUpdatedSince=<tag>`:
  200 `{"serialNumbers", "lastUpdated"}` (a string), 204 nothing changed.
- `GET    /v1/passes/{passType}/{serial}`: 200 the `.pkpass` with `Last-Modified`, 304
  when not modified since `If-Modified-Since`, 401.
- `POST   /v1/log` `{"logs": [...]}`: 200 (logged).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from admitone.core.http import Db, app_settings
from admitone.integrations.wallet.apple import PKPASS_TYPE
from admitone.passes import pdf
from admitone.passes.wallet import issue
from admitone.passes.wallet import service as wallet

log = logging.getLogger(__name__)
support_router = APIRouter(tags=["wallet"])
BASE = "/wallet/apple/v1"

Device = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")]
PassType = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")]
Serial = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")]
Authorization = Annotated[str | None, Header(max_length=300)]
_responses: dict[int | str, dict[str, Any]] = {
    401: {"description": "`wallet_unauthorized`: the ApplePass token does not match."},
    404: {"description": "`unknown_pass_type`."},
}


class Registration(BaseModel):
    pushToken: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9]+$")


class UpdatedSerials(BaseModel):
    serialNumbers: list[str]
    lastUpdated: str


class DeviceLogs(BaseModel):
    logs: list[Annotated[str, Field(max_length=2000)]] = Field(max_length=100)


@support_router.post(
    BASE + "/devices/{device_id}/registrations/{pass_type_id}/{serial}",
    response_class=Response,
    responses={
        201: {"description": "Registered (no body)."},
        200: {"description": "Already registered (no body)."},
        **_responses,
    },
)
def register_device(
    request: Request,
    db: Db,
    device_id: Device,
    pass_type_id: PassType,
    serial: Serial,
    body: Registration,
    authorization: Authorization = None,
) -> Response:
    settings = app_settings(request)

    def _register(session: Session) -> bool:
        found = wallet.authorized_pass(session, settings, pass_type_id, serial, authorization)
        return wallet.register_device(session, device_id, found.id, body.pushToken)

    created = db.mutation(_register)
    return Response(status_code=201 if created else 200)


@support_router.delete(
    BASE + "/devices/{device_id}/registrations/{pass_type_id}/{serial}",
    response_class=Response,
    responses={200: {"description": "Unregistered (no body)."}, **_responses},
)
def unregister_device(
    request: Request,
    db: Db,
    device_id: Device,
    pass_type_id: PassType,
    serial: Serial,
    authorization: Authorization = None,
) -> Response:
    settings = app_settings(request)

    def _unregister(session: Session) -> None:
        found = wallet.authorized_pass(session, settings, pass_type_id, serial, authorization)
        wallet.unregister_device(session, device_id, found.id)

    db.mutation(_unregister)
    return Response(status_code=200)


@support_router.get(
    BASE + "/devices/{device_id}/registrations/{pass_type_id}",
    response_model=UpdatedSerials,
    responses={204: {"description": "No pass changed."}, **_responses},
)
def updated_serials(
    request: Request,
    db: Db,
    device_id: Device,
    pass_type_id: PassType,
    passes_updated_since: Annotated[
        str | None, Query(alias="passesUpdatedSince", max_length=20)
    ] = None,
) -> Response:
    settings = app_settings(request)
    serials, last = db.query(
        wallet.serials_updated_since, settings, pass_type_id, device_id, passes_updated_since
    )
    if not serials or last is None:
        return Response(status_code=204)
    return JSONResponse(UpdatedSerials(serialNumbers=serials, lastUpdated=last).model_dump())


def _if_modified_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # a date we cannot read: send the pass
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@support_router.get(
    BASE + "/passes/{pass_type_id}/{serial}",
    response_class=Response,
    responses={
        200: {"content": {PKPASS_TYPE: {}}},
        304: {"description": "Not modified."},
        **_responses,
    },
)
def latest_pass(
    request: Request,
    db: Db,
    pass_type_id: PassType,
    serial: Serial,
    authorization: Authorization = None,
    if_modified_since: Annotated[str | None, Header(max_length=100)] = None,
) -> Response:
    settings = app_settings(request)

    def _load(session: Session) -> tuple[pdf.Ticket, datetime]:
        found = wallet.authorized_pass(session, settings, pass_type_id, serial, authorization)
        return pdf.tickets_for(session, settings, [found])[0], wallet.changed_at(session, found.id)

    ticket, changed = db.query(_load)
    last_modified = format_datetime(changed.astimezone(UTC), usegmt=True)
    since = _if_modified_since(if_modified_since)
    if since is not None and changed.replace(microsecond=0) <= since:
        return Response(status_code=304, headers={"Last-Modified": last_modified})
    return Response(
        issue.pkpass(settings, ticket),
        media_type=PKPASS_TYPE,
        headers={"Last-Modified": last_modified, "Cache-Control": "no-cache"},
    )


@support_router.post(
    BASE + "/log",
    response_class=Response,
    responses={200: {"description": "Logged (no body)."}},
)
def device_log(body: DeviceLogs) -> Response:
    """Wallet reports problems with our passes here; they go to the server log."""
    for line in body.logs:
        log.warning("Apple Wallet device log: %s", line)
    return Response(status_code=200)
