"""What a wallet pass says: Apple's `pass.json` and Google's EventTicketClass/Object, both
made from the same ticket view the PDFs use (`passes.pdf.Ticket`)."""

from __future__ import annotations

import hmac
import json
import re
from datetime import UTC, datetime
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from admitone.passes.codes import format_code
from admitone.passes.pdf import Ticket, local_time
from admitone.settings import Settings

BACKGROUND = "rgb(26,51,128)"
FOREGROUND = "rgb(255,255,255)"
LABEL = "rgb(190,205,255)"
_GOOGLE_SUFFIX = re.compile(r"[^A-Za-z0-9._-]")


@cache
def bundled_images() -> dict[str, bytes]:
    """icon.png (required) and logo.png at 1x, 2x and 3x. Organizations have no logo of
    their own yet; when they do, theirs replaces `logo*.png` here."""
    assets = resources.files("admitone.passes.wallet") / "assets"
    names = [f"{base}{scale}.png" for base in ("icon", "logo") for scale in ("", "@2x", "@3x")]
    return {name: (assets / name).read_bytes() for name in names}


def authentication_token(settings: Settings, pass_id: str) -> str:
    """The pass's `authenticationToken` (Apple: at least 16 characters), derived so it
    needs no storage and never changes for the pass (Apple forbids changing it)."""
    return hmac.digest(settings.secret, f"wallet.apple:{pass_id}".encode(), "sha256").hex()[:40]


def web_service_url(settings: Settings) -> str:
    return f"{settings.base_url.rstrip('/')}/support/v1/wallet/apple"


@lru_cache(maxsize=1024)  # an event's passes share their times
def _iso(t: datetime) -> str:
    return t.replace(tzinfo=t.tzinfo or UTC).isoformat(timespec="seconds")


_str = json.encoder.encode_basestring  # a JSON string, non-ASCII kept (ensure_ascii=False)


@lru_cache(maxsize=8)
def _pass_head(pass_type_id: str, team_id: str, base_url: str) -> str:
    """The part of every pass.json that depends on the settings only."""
    return (
        f'{{"formatVersion":1,"passTypeIdentifier":{_str(pass_type_id)},'
        f'"teamIdentifier":{_str(team_id)},"serialNumber":'
    )


def pass_json(settings: Settings, t: Ticket) -> bytes:
    """Apple's pass.json for `t`: compact JSON, written from a template (the keys and the
    settings' part are constant; each value is encoded as a JSON string on its own), which
    costs a fifth of `json.dumps` of the same structure and gives the same bytes."""
    w = settings.wallet
    voided = t.status != "valid"
    start, end = _str(_iso(t.starts_at)), _str(_iso(t.ends_at))
    code = _str(format_code(t.code))
    org = _str(t.organization)
    head = _pass_head(w.apple_pass_type_id, w.apple_team_id, settings.base_url)
    return (
        f"{head}{_str(t.pass_id)},"
        f'"organizationName":{org},'
        f'"description":{_str(f"Ticket for {t.event_title}")},'
        f'"logoText":{org},'
        f'"backgroundColor":"{BACKGROUND}","foregroundColor":"{FOREGROUND}",'
        f'"labelColor":"{LABEL}",'
        f'"relevantDate":{start},'
        f'"relevantDates":[{{"startDate":{start},"endDate":{end}}}],'
        f'"expirationDate":{end},'
        f'"voided":{"true" if voided else "false"},'
        f'"sharingProhibited":true,'
        f'"webServiceURL":{_str(web_service_url(settings))},'
        f'"authenticationToken":{_str(authentication_token(settings, t.pass_id))},'
        f'"barcodes":[{{"format":"PKBarcodeFormatQR","message":{_str(t.qr)},'
        f'"messageEncoding":"iso-8859-1","altText":{code}}}],'
        f'"eventTicket":{{"headerFields":[{{"key":"start","label":"DATE","value":{start},'
        f'"dateStyle":"PKDateStyleMedium","timeStyle":"PKDateStyleShort",'
        f'"ignoresTimeZone":false}}],'
        f'"primaryFields":[{{"key":"event","label":"EVENT","value":{_str(t.event_title)}}}],'
        f'"secondaryFields":[{{"key":"attendee","label":"ATTENDEE","value":{_str(t.attendee)}}},'
        f'{{"key":"tier","label":"TICKET","value":{_str(t.tier)}}}],'
        f'"auxiliaryFields":[{{"key":"venue","label":"VENUE","value":{_str(t.venue or "-")}}},'
        f'{{"key":"when","label":"WHEN","value":{_str(local_time(t))}}}],'
        f'"backFields":[{{"key":"code","label":"Code","value":{code}}},'
        f'{{"key":"status","label":"Status",'
        f'"value":"{"No longer valid" if voided else "Valid"}"}}]}}}}'
    ).encode()


def google_id(settings: Settings, suffix: str) -> str:
    """`<issuer id>.<suffix>` with only the characters Google documents for ids."""
    return f"{settings.wallet.google_issuer_id}.{_GOOGLE_SUFFIX.sub('_', suffix)}"


def google_class(settings: Settings, t: Ticket, event_id: str) -> dict[str, Any]:
    return {
        "id": google_id(settings, event_id),
        "issuerName": t.organization,
        "reviewStatus": "UNDER_REVIEW",
        "eventId": event_id,
        "eventName": {"defaultValue": {"language": "en", "value": t.event_title}},
        "venue": {
            "name": {"defaultValue": {"language": "en", "value": t.venue or "-"}},
            "address": {"defaultValue": {"language": "en", "value": t.venue or "-"}},
        },
        "dateTime": {"start": _iso(t.starts_at), "end": _iso(t.ends_at)},
    }


def google_object(settings: Settings, t: Ticket, event_id: str) -> dict[str, Any]:
    """The pass's EventTicketObject; `state` INACTIVE once it is revoked or transferred
    away (its old QR would be refused at the door anyway)."""
    return {
        "id": google_id(settings, t.pass_id),
        "classId": google_id(settings, event_id),
        "state": "ACTIVE" if t.status == "valid" else "INACTIVE",
        "ticketHolderName": t.attendee,
        "ticketNumber": format_code(t.code),
        "ticketType": {"defaultValue": {"language": "en", "value": t.tier}},
        "barcode": {"type": "QR_CODE", "value": t.qr, "alternateText": format_code(t.code)},
        "validTimeInterval": {
            "start": {"date": _iso(t.starts_at)},
            "end": {"date": _iso(t.ends_at)},
        },
    }
