"""Campaigns and templates as an organizer manages them: lifecycle, capability, validation."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from admitone.access.models import AuditEntry
from admitone.core.db import Database
from admitone.orgs.models import Organization
from admitone.settings import Settings
from tests.dp.conftest import World, add_template, create_campaign, decoded, frame_png
from tests.dp.render.images import frame_with_hole, layout_dict, png_bytes
from tests.factories import add_team_member, auth_headers, make_organization, make_user


def test_campaign_lifecycle_is_audited(client: TestClient, world: World, db: Database) -> None:
    c = create_campaign(client, world.headers, world.event.id, title="Ich bin dabei!")
    assert c["status"] == "draft"
    assert c["slug"] == "ich-bin-dabei"
    assert c["page_url"] == "http://testserver/dp/ich-bin-dabei"
    again = create_campaign(client, world.headers, world.event.id, title="Ich bin dabei")
    assert again["slug"] == "ich-bin-dabei-2"
    taken = client.post(
        f"/api/v1/events/{world.event.id}/dp-campaigns",
        json={"title": "x", "slug": "ich-bin-dabei"},
        headers=world.headers,
    )
    assert taken.status_code == 409
    assert taken.json()["code"] == "slug_taken"
    empty = client.post(f"/api/v1/dp-campaigns/{c['id']}/publish", headers=world.headers)
    assert empty.status_code == 409
    assert empty.json()["code"] == "dp_campaign_not_publishable"
    assert add_template(client, world.headers, c["id"]).status_code == 201
    published = client.post(f"/api/v1/dp-campaigns/{c['id']}/publish", headers=world.headers)
    assert published.json()["status"] == "published"
    assert published.json()["published_at"] is not None
    closed = client.post(f"/api/v1/dp-campaigns/{c['id']}/close", headers=world.headers)
    assert closed.json()["status"] == "closed"
    refused = client.patch(
        f"/api/v1/dp-campaigns/{c['id']}", json={"title": "New"}, headers=world.headers
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "dp_campaign_not_editable"
    actions = db.query(
        lambda s: list(
            s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target_id == c["id"])
                .order_by(AuditEntry.created_at, AuditEntry.id)
            )
        )
    )
    assert actions == ["dp_campaign.created", "dp_campaign.published", "dp_campaign.closed"]


def test_campaign_routes_refuse_strangers_and_roles_without_dp_manage(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    with db.session() as s:
        stranger = make_user(s)
        make_organization(s, stranger)
        door = make_user(s)
        org_id = world.event.organization_id
        org = s.get(Organization, org_id)
        assert org is not None
        add_team_member(s, org, door, role="door_staff")
        stranger_h = auth_headers(s, settings, stranger)
        door_h = auth_headers(s, settings, door)
    c = world.campaign["id"]
    paths = [
        ("GET", f"/api/v1/dp-campaigns/{c}", None),
        ("PATCH", f"/api/v1/dp-campaigns/{c}", {"title": "x"}),
        ("POST", f"/api/v1/dp-campaigns/{c}/publish", None),
        ("GET", f"/api/v1/dp-campaigns/{c}/stats", None),
        ("GET", f"/api/v1/dp-templates/{world.template['id']}", None),
    ]
    for method, path, body in paths:
        assert client.request(method, path, json=body).status_code == 401, path
        assert client.request(method, path, json=body, headers=stranger_h).status_code == 404
        forbidden = client.request(method, path, json=body, headers=door_h)
        assert forbidden.status_code == 403, path
        assert forbidden.json()["code"] == "capability_required"
    created = client.post(
        f"/api/v1/events/{world.event.id}/dp-campaigns", json={"title": "x"}, headers=door_h
    )
    assert created.status_code == 403


def test_campaign_list_is_cursor_paginated(client: TestClient, world: World) -> None:
    for n in range(3):
        create_campaign(client, world.headers, world.event.id, title=f"Campaign {n}")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get(
            f"/api/v1/events/{world.event.id}/dp-campaigns", params=params, headers=world.headers
        ).json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= 2
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 4
    assert len(set(seen)) == 4
    bad = client.get(
        f"/api/v1/events/{world.event.id}/dp-campaigns",
        params={"cursor": "bm90LWEtY3Vyc29y"},
        headers=world.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_cursor"


def test_template_upload_is_validated(client: TestClient, world: World) -> None:
    c = create_campaign(client, world.headers, world.event.id)["id"]
    outside = layout_dict(photo={"x": 300, "y": 40, "width": 200, "height": 200})
    r = add_template(client, world.headers, c, layout=outside)
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_layout"
    assert r.json()["field"].startswith("photo")
    font = layout_dict()
    font["texts"][0]["font"] = "comic-sans"
    r = add_template(client, world.headers, c, layout=font)
    assert r.status_code == 422
    assert r.json()["field"] == "texts[0].font"
    not_json = client.post(
        f"/api/v1/dp-campaigns/{c}/templates",
        files={"file": ("frame.png", frame_png(), "image/png")},
        data={"layout": "{not json"},
        headers=world.headers,
    )
    assert not_json.status_code == 422
    assert not_json.json()["field"] == "layout"
    pdf = client.post(
        f"/api/v1/dp-campaigns/{c}/templates",
        files={"file": ("frame.png", b"%PDF-1.7 nope", "image/png")},
        data={"layout": json.dumps(layout_dict())},
        headers=world.headers,
    )
    assert pdf.status_code == 415
    assert pdf.json()["code"] == "unsupported_image_type"
    wide = add_template(client, world.headers, c, frame=_wide_frame())
    assert wide.status_code == 422
    assert wide.json()["code"] == "frame_size_mismatch"


def _wide_frame() -> bytes:
    return png_bytes(frame_with_hole((800, 400), (10, 10, 100, 100)))


def test_template_preview_patch_and_delete(client: TestClient, world: World) -> None:
    t = world.template["id"]
    preview = client.get(f"/api/v1/dp-templates/{t}/preview", headers=world.headers)
    assert preview.status_code == 200
    assert decoded(preview.content).size == (400, 400)
    public = client.get(f"/api/v1/public/dp-templates/{t}/preview")
    assert public.status_code == 200
    assert public.content == preview.content
    layout = layout_dict(format="png")
    patched = client.patch(
        f"/api/v1/dp-templates/{t}",
        json={"name": "Renamed", "layout": layout},
        headers=world.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Renamed"
    png = client.get(f"/api/v1/dp-templates/{t}/preview", headers=world.headers)
    assert decoded(png.content).format == "PNG"
    bad = client.patch(
        f"/api/v1/dp-templates/{t}", json={"layout": {"width": 5}}, headers=world.headers
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_layout"
    assert client.delete(f"/api/v1/dp-templates/{t}", headers=world.headers).status_code == 204
    assert client.get(f"/api/v1/dp-templates/{t}", headers=world.headers).status_code == 404
    page = client.get(f"/api/v1/public/dp-campaigns/{world.campaign['slug']}").json()
    assert page["templates"] == []


def test_my_dps_pages_with_a_cursor(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    from tests.dp.conftest import generate

    with db.session() as s:
        me = make_user(s)
        headers = auth_headers(s, settings, me)
    made = [
        generate(client, world.campaign["id"], world.template["id"], headers=headers).json()["id"]
        for _ in range(3)
    ]
    first = client.get("/api/v1/me/dps", params={"limit": 2}, headers=headers).json()
    assert set(first) == {"items", "next_cursor"}
    second = client.get(
        "/api/v1/me/dps", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    ).json()
    assert second["next_cursor"] is None
    assert [d["id"] for d in first["items"] + second["items"]] == made[::-1]
    assert client.get("/api/v1/me/dps").status_code == 401
    bad = client.get("/api/v1/me/dps", params={"cursor": "e30="}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_cursor"


def test_patch_with_nulls_clears_only_the_description(client: TestClient, world: World) -> None:
    c = world.campaign["id"]
    set_ = client.patch(
        f"/api/v1/dp-campaigns/{c}", json={"description": "Share it!"}, headers=world.headers
    )
    assert set_.json()["description"] == "Share it!"
    r = client.patch(
        f"/api/v1/dp-campaigns/{c}",
        json={"title": None, "verified_only": None, "description": None},
        headers=world.headers,
    )
    assert r.status_code == 200
    assert r.json()["description"] is None
    assert r.json()["title"] == world.campaign["title"]
    assert r.json()["verified_only"] is False
    unknown = client.patch(f"/api/v1/dp-campaigns/{c}", json={"status": "x"}, headers=world.headers)
    assert unknown.status_code == 422
