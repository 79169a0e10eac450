"""What the fuzzer found (tests/contract/test_fuzz.py, issue 18), kept as regression tests
that run on every test run (not only under `-m fuzz`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.settings import Settings
from tests.factories import auth_headers, make_organization, make_user


def _owner(db: Database, settings: Settings) -> tuple[dict[str, str], str]:
    def seed(session: Any) -> tuple[dict[str, str], str]:
        owner = make_user(session)
        return auth_headers(session, settings, owner), make_organization(session, owner).id

    return db.mutation(seed)


def _event_body(timezone: str) -> dict[str, Any]:
    starts = (utcnow() + timedelta(days=30)).replace(microsecond=0)
    return {
        "title": "Fuzz findings",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=4)).isoformat(),
        "timezone": timezone,
    }


def test_a_created_event_links_to_reading_it_and_the_link_works(
    client: TestClient, db: Database, settings: Settings
) -> None:
    """The stateful run follows `links`: created -> read through `$response.body#/id`."""
    document = client.get("/openapi.json").json()
    create = document["paths"]["/api/v1/organizations/{organization_id}/events"]["post"]
    links = create["responses"]["201"]["links"]
    read_id = document["paths"]["/api/v1/events/{event_id}"]["get"]["operationId"]
    assert links[read_id] == {
        "operationId": read_id,
        "parameters": {"path.event_id": "$response.body#/id"},
    }
    tiers = document["paths"]["/api/v1/events/{event_id}/tiers"]["post"]
    update_tier = document["paths"]["/api/v1/tiers/{tier_id}"]["patch"]["operationId"]
    assert update_tier in tiers["responses"]["201"]["links"]

    headers, org_id = _owner(db, settings)
    made = client.post(
        f"/api/v1/organizations/{org_id}/events", json=_event_body("UTC"), headers=headers
    )
    assert made.status_code == 201, made.text
    read = client.get(f"/api/v1/events/{made.json()['id']}", headers=headers)
    assert read.status_code == 200


def test_the_document_lists_the_time_zones_the_server_takes(
    client: TestClient, db: Database, settings: Settings
) -> None:
    """Found: `timezone` was declared as any string, so no generated event was ever valid
    (422 `invalid_timezone`); the document now lists the names."""
    document = client.get("/openapi.json").json()
    declared = document["components"]["schemas"]["EventCreate"]["properties"]["timezone"]
    assert "Africa/Lagos" in declared["enum"]
    assert "Not/AZone" not in declared["enum"]
    headers, org_id = _owner(db, settings)
    url = f"/api/v1/organizations/{org_id}/events"
    for name in (declared["enum"][0], declared["enum"][-1]):
        assert client.post(url, json=_event_body(name), headers=headers).status_code == 201
    refused = client.post(url, json=_event_body("Not/AZone"), headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_timezone")


def test_an_integral_float_is_the_integer_the_document_declares(
    client: TestClient, db: Database, settings: Settings
) -> None:
    """Found (seeded stateful run): `{"amount": 75699.0}` is an `integer` by JSON Schema and
    the document, yet the server answered 422 `int_type`. Fractions, strings and booleans
    are still refused."""
    headers, org_id = _owner(db, settings)
    event = client.post(
        f"/api/v1/organizations/{org_id}/events", json=_event_body("UTC"), headers=headers
    ).json()
    url = f"/api/v1/events/{event['id']}/tiers"

    def tier(**fields: Any) -> dict[str, Any]:
        base = {"name": "Regular", "price": {"amount": 75699, "currency": "NGN"}, "capacity": 10}
        return base | fields

    made = client.post(
        url,
        json=tier(price={"amount": 75699.0, "currency": "NGN"}, capacity=669.0, max_per_order=3.0),
        headers=headers,
    )
    assert made.status_code == 201, made.text
    assert (made.json()["price"]["amount"], made.json()["capacity"]) == (75699, 669)
    for bad in ({"capacity": 1.5}, {"capacity": "10"}, {"capacity": True}, {"position": 2.5}):
        refused = client.post(url, json=tier(**bad), headers=headers)
        assert refused.status_code == 422, bad
