"""Apple Wallet: the `.pkpass` (verified by OpenSSL against the test chain), the pass web
service with Apple's paths and status codes, and APNs pushes over HTTP/2 when a pass
changes, seen by a local APNs stand-in."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select, update

from admitone.core import jobs
from admitone.core.db import Database
from admitone.events.models import Event
from admitone.integrations.wallet.keys import DevChain
from admitone.passes.models import Pass
from admitone.passes.wallet.content import authentication_token
from admitone.passes.wallet.models import WalletRegistration
from admitone.settings import Settings
from tests.orders.shop import Shop, open_shop, order_body, place
from tests.passes.conftest import PASS_TYPE
from tests.passes.logo_images import logo_png
from tests.passes.wallet_servers import ApnsServer

WS = "/support/v1/wallet/apple/v1"


@pytest.fixture
def shop(db: Database, settings: Settings) -> Shop:
    return open_shop(db, settings)


def _order(client: TestClient, shop: Shop, quantity: int = 1) -> dict[str, Any]:
    body = order_body(shop) | {"items": [{"tier_id": shop.free.id, "quantity": quantity}]}
    resp = place(client, body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _pkpass(client: TestClient, order: dict[str, Any], index: int = 0) -> bytes:
    p = order["passes"][index]
    resp = client.get(f"/support/v1/passes/{p['id']}/wallet.pkpass?token={order['order_token']}")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/vnd.apple.pkpass"
    return resp.content


def openssl_verify(pkpass: bytes, root: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    with zipfile.ZipFile(io.BytesIO(pkpass)) as z:
        z.extractall(workdir)
    return subprocess.run(
        [
            "openssl", "cms", "-verify", "-binary", "-inform", "DER",
            "-in", str(workdir / "signature"), "-content", str(workdir / "manifest.json"),
            "-CAfile", str(root), "-purpose", "any", "-out", "/dev/null",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


def test_pkpass_is_signed_verifiable_and_describes_the_pass(
    client: TestClient, shop: Shop, settings: Settings, wallet_chain: DevChain, tmp_path: Path
) -> None:
    order = _order(client, shop)
    p = order["passes"][0]
    body = _pkpass(client, order)
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        files = {name: z.read(name) for name in z.namelist()}
    assert {
        "pass.json",
        "manifest.json",
        "signature",
        "icon.png",
        "icon@2x.png",
        "logo.png",
    } <= set(files)
    manifest = json.loads(files["manifest.json"])
    assert set(manifest) == set(files) - {"manifest.json", "signature"}
    for name, digest in manifest.items():
        assert hashlib.sha1(files[name]).hexdigest() == digest

    result = openssl_verify(body, wallet_chain.root, tmp_path / "ok")
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    printed = subprocess.run(
        ["openssl", "cms", "-cmsout", "-print", "-inform", "DER",
         "-in", str(tmp_path / "ok" / "signature")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "signingTime" in printed
    assert "stand-in WWDR" in printed  # the intermediate travels with the signature

    tampered = tmp_path / "bad"
    tampered.mkdir()
    (tampered / "manifest.json").write_bytes(files["manifest.json"].replace(b'"', b" ", 1))
    (tampered / "signature").write_bytes(files["signature"])
    refused = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER",
         "-in", str(tampered / "signature"),
         "-content", str(tampered / "manifest.json"), "-CAfile", str(wallet_chain.root),
         "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode != 0

    pj = json.loads(files["pass.json"])
    assert pj["formatVersion"] == 1
    assert pj["passTypeIdentifier"] == PASS_TYPE
    assert pj["serialNumber"] == p["id"]
    assert pj["teamIdentifier"] == "TEAM123456"
    assert pj["barcodes"][0] == {
        "format": "PKBarcodeFormatQR",
        "message": p["qr"],
        "messageEncoding": "iso-8859-1",
        "altText": f"{p['code'][:5]}-{p['code'][5:]}",
    }
    assert pj["webServiceURL"] == "http://testserver/support/v1/wallet/apple"
    assert pj["authenticationToken"] == authentication_token(settings, p["id"])
    assert len(pj["authenticationToken"]) >= 16
    assert pj["eventTicket"]["primaryFields"][0]["value"] == shop.event.title
    secondary = {f["key"]: f["value"] for f in pj["eventTicket"]["secondaryFields"]}
    assert secondary == {"attendee": "Ada Obi", "tier": "Free"}
    assert pj["relevantDate"].startswith(shop.event.starts_at.strftime("%Y-%m-%dT%H:%M"))
    assert pj["voided"] is False


def test_pkpass_is_only_for_holder_buyer_or_organizer(client: TestClient, shop: Shop) -> None:
    order = _order(client, shop)
    url = f"/support/v1/passes/{order['passes'][0]['id']}/wallet.pkpass"
    assert client.get(url).status_code == 404
    assert client.get(url + "?token=" + "a" * 40).json()["code"] == "pass_not_found"
    assert client.get(url, headers=shop.owner_headers).status_code == 200


def test_dev_chain_is_made_once_under_var(
    client: TestClient, db: Database, settings: Settings, tmp_path: Path
) -> None:
    from admitone.app import create_app
    from admitone.settings import WalletSettings

    bare = settings.model_copy(update={"wallet": WalletSettings(), "var_dir": tmp_path / "var"})
    shop = open_shop(db, bare)
    with TestClient(create_app(bare, db, run_worker=False)) as c:
        order = _order(c, shop)
        first = _pkpass(c, order)
        root = tmp_path / "var" / "wallet" / "root.pem"
        made = root.stat().st_mtime_ns
        _pkpass(c, order)
        assert root.stat().st_mtime_ns == made
    assert openssl_verify(first, root, tmp_path / "x").returncode == 0


def _auth(settings: Settings, pass_id: str) -> dict[str, str]:
    return {"Authorization": f"ApplePass {authentication_token(settings, pass_id)}"}


def test_web_service_registration_updates_and_latest_pass(
    client: TestClient, db: Database, shop: Shop, settings: Settings
) -> None:
    order = _order(client, shop, quantity=2)
    first, second = (p["id"] for p in order["passes"])
    reg = f"{WS}/devices/device-1/registrations/{PASS_TYPE}"
    token = {"pushToken": "ab" * 32}
    assert (
        client.post(f"{reg}/{first}", json=token, headers=_auth(settings, first)).status_code == 201
    )
    assert (
        client.post(f"{reg}/{first}", json=token, headers=_auth(settings, first)).status_code == 200
    )
    assert (
        client.post(f"{reg}/{second}", json=token, headers=_auth(settings, second)).status_code
        == 201
    )

    # Wrong token, another pass's token, no header: 401; a pass type we do not issue: 404.
    assert (
        client.post(f"{reg}/{first}", json=token, headers=_auth(settings, second)).status_code
        == 401
    )
    unauth = client.post(f"{reg}/{first}", json=token)
    assert unauth.status_code == 401
    assert unauth.json()["code"] == "wallet_unauthorized"
    assert unauth.headers["www-authenticate"] == "ApplePass"
    other = f"{WS}/devices/device-1/registrations/pass.other.type/{first}"
    assert client.post(other, json=token, headers=_auth(settings, first)).status_code == 404
    bad = client.post(
        f"{reg}/{first}", json={"pushToken": "<script>"}, headers=_auth(settings, first)
    )
    assert bad.status_code == 422

    everything = client.get(reg)
    assert everything.status_code == 200
    body = everything.json()
    assert sorted(body["serialNumbers"]) == sorted([first, second])
    assert isinstance(body["lastUpdated"], str)
    assert client.get(reg, params={"passesUpdatedSince": body["lastUpdated"]}).status_code == 204
    assert (
        client.get(reg, params={"passesUpdatedSince": "yesterday"}).json()["code"]
        == "invalid_update_tag"
    )
    assert client.get(f"{WS}/devices/unknown-device/registrations/{PASS_TYPE}").status_code == 204

    with db.session() as s:  # the holder's name is corrected: only that pass changed
        s.execute(update(Pass).where(Pass.id == second).values(attendee_name="Ada Obi-Eze"))
    changed = client.get(reg, params={"passesUpdatedSince": body["lastUpdated"]}).json()
    assert changed["serialNumbers"] == [second]
    assert int(changed["lastUpdated"]) > int(body["lastUpdated"])

    latest = client.get(f"{WS}/passes/{PASS_TYPE}/{second}", headers=_auth(settings, second))
    assert latest.status_code == 200
    assert latest.headers["content-type"] == "application/vnd.apple.pkpass"
    with zipfile.ZipFile(io.BytesIO(latest.content)) as z:
        fields = json.loads(z.read("pass.json"))["eventTicket"]["secondaryFields"]
    assert fields[0]["value"] == "Ada Obi-Eze"
    since = {"If-Modified-Since": latest.headers["last-modified"], **_auth(settings, second)}
    assert client.get(f"{WS}/passes/{PASS_TYPE}/{second}", headers=since).status_code == 304
    garbled = {"If-Modified-Since": "not a date", **_auth(settings, second)}
    assert client.get(f"{WS}/passes/{PASS_TYPE}/{second}", headers=garbled).status_code == 200
    assert client.get(f"{WS}/passes/{PASS_TYPE}/{second}").status_code == 401

    assert client.delete(f"{reg}/{first}", headers=_auth(settings, first)).status_code == 200
    assert client.delete(f"{reg}/{first}").status_code == 401
    assert client.get(reg).json()["serialNumbers"] == [second]
    assert client.post(f"{WS}/log", json={"logs": ["pass failed to update"]}).status_code == 200
    assert client.post(f"{WS}/log", json={"logs": "x"}).status_code == 422


def _sync(db: Database) -> None:
    db.mutation(lambda s: jobs.schedule(s, "wallet.sync", {}))


def test_a_changed_event_pushes_to_every_registered_device_over_http2(
    client: TestClient,
    db: Database,
    shop: Shop,
    settings: Settings,
    apns: ApnsServer,
    run_jobs: Callable[[], int],
) -> None:
    order = _order(client, shop)
    pid = order["passes"][0]["id"]
    for device, push in (("phone", "aa" * 32), ("watch", "bb" * 32)):
        url = f"{WS}/devices/{device}/registrations/{PASS_TYPE}/{pid}"
        client.post(url, json={"pushToken": push}, headers=_auth(settings, pid))
    run_jobs()
    _sync(db)
    run_jobs()
    assert apns.pushes == []  # nothing changed since the devices registered

    with db.session() as s:  # the event moves to another venue
        s.execute(update(Event).where(Event.id == shop.event.id).values(venue_name="New Hall"))
    _sync(db)
    run_jobs()
    assert sorted(p.path for p in apns.pushes) == [
        f"/3/device/{'aa' * 32}",
        f"/3/device/{'bb' * 32}",
    ]
    for push in apns.pushes:
        assert push.headers[":method"] == "POST"
        assert push.headers["apns-topic"] == PASS_TYPE
        assert push.headers["apns-push-type"] == "background"
        assert push.body == b"{}"
        assert f"Pass Type ID: {PASS_TYPE}" in push.client_subject

    apns.pushes.clear()
    _sync(db)
    run_jobs()
    assert apns.pushes == []  # one push per change


def test_a_device_apns_says_is_gone_loses_its_registration(
    client: TestClient,
    db: Database,
    shop: Shop,
    settings: Settings,
    apns: ApnsServer,
    run_jobs: Callable[[], int],
) -> None:
    order = _order(client, shop)
    pid = order["passes"][0]["id"]
    for device, push in (("old-phone", "cc" * 32), ("new-phone", "dd" * 32)):
        url = f"{WS}/devices/{device}/registrations/{PASS_TYPE}/{pid}"
        client.post(url, json={"pushToken": push}, headers=_auth(settings, pid))
    apns.gone.add("cc" * 32)
    with db.session() as s:
        s.execute(update(Pass).where(Pass.id == pid).values(attendee_name="Renamed"))
    _sync(db)
    run_jobs()
    assert len(apns.pushes) == 2
    left = db.query(lambda s: list(s.scalars(select(WalletRegistration.device_id))))
    assert left == ["new-phone"]


def test_a_pass_of_an_organization_with_a_logo_carries_it_derived(
    client: TestClient, shop: Shop, wallet_chain: DevChain, tmp_path: Path
) -> None:
    bundled = _files(_pkpass(client, _order(client, shop)))
    upload = client.put(
        f"/api/v1/organizations/{shop.org.id}/logo",
        files={"file": ("logo.png", logo_png((640, 200)), "image/png")},
        headers=shop.owner_headers,
    )
    assert upload.status_code == 200, upload.text
    order = _order(client, shop)
    body = _pkpass(client, order)
    files = _files(body)
    # Apple's sizes (points at 1x; @2x and @3x in pixels): the logo fitted into 160 x 50
    # (640 x 200 is 3.2:1, so exactly), the icon a 29-point square.
    expected = {
        "logo.png": (160, 50), "logo@2x.png": (320, 100), "logo@3x.png": (480, 150),
        "icon.png": (29, 29), "icon@2x.png": (58, 58), "icon@3x.png": (87, 87),
    }  # fmt: skip
    for name, size in expected.items():
        with Image.open(io.BytesIO(files[name])) as image:
            assert image.format == "PNG"
            assert image.size == size, name
            assert image.mode == "RGBA"
        assert files[name] != bundled[name]
    with Image.open(io.BytesIO(files["logo@3x.png"])) as image:
        assert image.getpixel((0, 0))[3] == 0  # the transparency survived
        red = image.getpixel((240, 75))  # the logo's red (stored as a WebP: close, not exact)
        assert all(abs(a - b) <= 6 for a, b in zip(red[:3], (200, 30, 40), strict=True))
    manifest = json.loads(files["manifest.json"])
    assert set(manifest) == set(files) - {"manifest.json", "signature"}
    for name, digest in manifest.items():
        assert hashlib.sha1(files[name]).hexdigest() == digest
    result = openssl_verify(body, wallet_chain.root, tmp_path / "logo")
    assert result.returncode == 0, result.stderr

    # Removed: the bundled images again.
    client.delete(f"/api/v1/organizations/{shop.org.id}/logo", headers=shop.owner_headers)
    again = _files(_pkpass(client, _order(client, shop)))
    assert again["logo.png"] == bundled["logo.png"]


def _files(pkpass: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(pkpass)) as z:
        assert z.testzip() is None
        return {name: z.read(name) for name in z.namelist()}
