"""Google Wallet: the save link's RS256 JWT (verified with the service account's public
key) and object updates through the Wallet REST API, seen by a local stand-in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from admitone.core import jobs
from admitone.core.db import Database
from admitone.integrations.wallet.keys import DevChain
from admitone.passes.models import Pass
from admitone.settings import Settings
from tests.orders.shop import Shop, open_shop, order_body, place
from tests.passes.wallet_servers import GoogleServer

ISSUER = "3388000000012345678"


@pytest.fixture
def shop(db: Database, settings: Settings) -> Shop:
    return open_shop(db, settings)


def _order(client: TestClient, shop: Shop) -> dict[str, Any]:
    body = order_body(shop) | {"items": [{"tier_id": shop.free.id, "quantity": 1}]}
    return dict(place(client, body).json())


def _public_key(chain: DevChain) -> Any:
    key = serialization.load_pem_private_key(chain.google_key.read_bytes(), None)
    return key.public_key()


def _link(client: TestClient, order: dict[str, Any]) -> str:
    pid = order["passes"][0]["id"]
    resp = client.get(f"/support/v1/passes/{pid}/wallet/google?token={order['order_token']}")
    assert resp.status_code == 200, resp.text
    return str(resp.json()["save_url"])


def test_save_link_is_an_rs256_jwt_with_the_class_and_object(
    client: TestClient, shop: Shop, wallet_chain: DevChain
) -> None:
    order = _order(client, shop)
    p = order["passes"][0]
    url = _link(client, order)
    assert url.startswith("https://pay.google.com/gp/v/save/")
    token = url.removeprefix("https://pay.google.com/gp/v/save/")
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, _public_key(wallet_chain), algorithms=["RS256"], audience="google")
    assert claims["iss"] == "wallet@admitone-test.iam.gserviceaccount.com"
    assert claims["typ"] == "savetowallet"
    assert claims["origins"] == ["https://app.admitone.test"]
    [cls] = claims["payload"]["eventTicketClasses"]
    [obj] = claims["payload"]["eventTicketObjects"]
    assert cls["id"] == f"{ISSUER}.{shop.event.id}"
    assert cls["eventName"]["defaultValue"]["value"] == shop.event.title
    assert obj["id"] == f"{ISSUER}.{p['id']}"
    assert obj["classId"] == cls["id"]
    assert obj["state"] == "ACTIVE"
    assert obj["barcode"] == {
        "type": "QR_CODE",
        "value": p["qr"],
        "alternateText": f"{p['code'][:5]}-{p['code'][5:]}",
    }
    assert obj["ticketHolderName"] == "Ada Obi"
    # Signed by another key, it does not verify.
    other = jwt.encode({"aud": "google"}, "x" * 32, algorithm="HS256")
    with pytest.raises(jwt.InvalidTokenError):
        jwt.decode(other, _public_key(wallet_chain), algorithms=["RS256"], audience="google")


def test_save_link_needs_the_holder_buyer_or_organizer(client: TestClient, shop: Shop) -> None:
    order = _order(client, shop)
    url = f"/support/v1/passes/{order['passes'][0]['id']}/wallet/google"
    assert client.get(url).json()["code"] == "pass_not_found"
    assert client.get(url, headers=shop.owner_headers).status_code == 200


def test_a_revoked_pass_is_patched_inactive_through_the_rest_api(
    client: TestClient,
    db: Database,
    shop: Shop,
    wallet_chain: DevChain,
    google_server: GoogleServer,
    run_jobs: Callable[[], int],
) -> None:
    order = _order(client, shop)
    pid = order["passes"][0]["id"]
    _link(client, order)
    run_jobs()
    with db.session() as s:  # a refund revokes the pass (orders call passes.revoke_passes)
        s.execute(update(Pass).where(Pass.id == pid).values(status="revoked"))
    db.mutation(lambda s: jobs.schedule(s, "wallet.sync", {}))
    run_jobs()
    [(object_id, headers, body)] = google_server.patches
    assert object_id == f"{ISSUER}.{pid}"
    assert headers["Authorization"] == "Bearer ya29.test-token"
    assert body["state"] == "INACTIVE"
    [form] = google_server.token_requests
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assertion = jwt.decode(
        form["assertion"][0],
        _public_key(wallet_chain),
        algorithms=["RS256"],
        audience=google_server.url + "/token",
    )
    assert assertion["scope"] == "https://www.googleapis.com/auth/wallet_object.issuer"


def test_an_object_never_saved_is_left_alone(
    client: TestClient,
    db: Database,
    shop: Shop,
    google_server: GoogleServer,
    run_jobs: Callable[[], int],
) -> None:
    order = _order(client, shop)
    pid = order["passes"][0]["id"]
    _link(client, order)
    run_jobs()
    google_server.missing.add(f"{ISSUER}.{pid}")
    with db.session() as s:
        s.execute(update(Pass).where(Pass.id == pid).values(attendee_name="Renamed"))
    db.mutation(lambda s: jobs.schedule(s, "wallet.sync", {}))
    run_jobs()
    assert google_server.patches == []
    failed = db.query(
        lambda s: s.scalar(select(jobs.Job.status).where(jobs.Job.name == "wallet.google_update"))
    )
    assert failed == "done"
