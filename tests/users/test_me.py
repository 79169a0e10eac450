"""The current user: profile, profile changes, memberships, account deletion."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from admitone.auth.models import AuthAccount, SignInCode
from admitone.core.db import Database
from admitone.core.files import File
from admitone.core.ids import FileId
from admitone.emails.models import EmailDelivery
from admitone.orders.models import Order
from admitone.settings import Settings
from admitone.users.models import User
from tests.auth.conftest import bearer
from tests.factories import (
    add_team_member,
    auth_headers,
    make_event,
    make_order,
    make_organization,
    make_tier,
    make_user,
)

SignIn = Callable[[str], dict[str, Any]]
ME = "/api/v1/me"


def _file(db: Database, owner: str | None, content_type: str = "image/png") -> FileId:
    fid = FileId.new()
    db.mutation(
        lambda s: s.add(
            File(
                id=fid,
                storage_key=f"avatars/{fid}",
                content_type=content_type,
                size_bytes=10,
                sha256=hashlib.sha256(fid.encode()).hexdigest(),
                owner_user_id=owner,
            )
        )
    )
    return fid


def test_anonymous_caller_gets_401_on_every_me_route(client: TestClient) -> None:
    for method, path in (
        ("GET", ME),
        ("PATCH", ME),
        ("DELETE", ME),
        ("GET", f"{ME}/memberships"),
    ):
        resp = client.request(method, path, json={} if method == "PATCH" else None)
        assert resp.status_code == 401, (method, path)
        assert resp.json()["code"] == "unauthorized"


def test_me_shows_the_profile(client: TestClient, db: Database, settings: Settings) -> None:
    user = db.mutation(lambda s: make_user(s, email="me@example.com", name="Ada"))
    headers = db.mutation(lambda s: auth_headers(s, settings, user))
    body = client.get(ME, headers=headers).json()
    assert body["id"] == user.id
    assert body["email"] == "me@example.com"
    assert body["email_verified"] is True
    assert body["name"] == "Ada"
    assert body["phone"] is None


def test_patch_changes_only_the_fields_given_and_null_clears(
    client: TestClient, db: Database, settings: Settings
) -> None:
    user = db.mutation(lambda s: make_user(s, name="Old"))
    headers = db.mutation(lambda s: auth_headers(s, settings, user))
    resp = client.patch(ME, headers=headers, json={"phone": "+2348012345678"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "Old"
    assert resp.json()["phone"] == "+2348012345678"
    resp = client.patch(ME, headers=headers, json={"name": "  New Name  ", "phone": None})
    assert resp.json()["name"] == "New Name"
    assert resp.json()["phone"] is None
    assert client.get(ME, headers=headers).json()["name"] == "New Name"


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x" * 201},
        {"phone": "08012345678"},
        {"phone": "+0123456789"},
        {"phone": "+234 801 234"},
        {"email": "new@example.com"},  # the e-mail is an identity: not editable here
        {"avatar_file_id": "usr_01JD3000000000000000000000"},  # wrong id prefix
        {"avatar_file_id": 7},
    ],
)
def test_bad_profile_changes_are_422(
    client: TestClient, db: Database, settings: Settings, body: dict[str, Any]
) -> None:
    headers = db.mutation(lambda s: auth_headers(s, settings, make_user(s)))
    resp = client.patch(ME, headers=headers, json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "validation_error"


def test_avatar_must_be_an_image_the_user_uploaded(
    client: TestClient, db: Database, settings: Settings
) -> None:
    user = db.mutation(lambda s: make_user(s))
    headers = db.mutation(lambda s: auth_headers(s, settings, user))
    someone_elses = _file(db, owner=db.mutation(lambda s: make_user(s)).id)
    pdf = _file(db, owner=user.id, content_type="application/pdf")
    for fid in (someone_elses, pdf, FileId.new()):
        resp = client.patch(ME, headers=headers, json={"avatar_file_id": fid})
        assert resp.status_code == 422
        assert resp.json()["code"] == "invalid_avatar"
    mine = _file(db, owner=user.id)
    resp = client.patch(ME, headers=headers, json={"avatar_file_id": mine})
    assert resp.json()["avatar_file_id"] == mine
    assert (
        client.patch(ME, headers=headers, json={"avatar_file_id": None}).json()["avatar_file_id"]
        is None
    )


def test_memberships_list_workspaces_and_organizations_with_roles(
    client: TestClient, db: Database, settings: Settings
) -> None:
    owner = db.mutation(lambda s: make_user(s))
    staff = db.mutation(lambda s: make_user(s))
    org = db.mutation(lambda s: make_organization(s, owner, name="Lagos Live"))
    event = db.mutation(lambda s: make_event(s, org))
    db.mutation(lambda s: add_team_member(s, org, staff, "door_staff", [event.id]))

    mine = client.get(
        f"{ME}/memberships", headers=db.mutation(lambda s: auth_headers(s, settings, owner))
    ).json()
    assert [w["role"] for w in mine["workspaces"]] == ["owner"]
    assert mine["organizations"] == [
        {
            "organization_id": org.id,
            "name": "Lagos Live",
            "slug": org.slug,
            "workspace_id": org.workspace_id,
            "role": "owner",
            "event_ids": None,
        }
    ]
    theirs = client.get(
        f"{ME}/memberships", headers=db.mutation(lambda s: auth_headers(s, settings, staff))
    ).json()
    assert theirs["workspaces"] == []
    assert theirs["organizations"][0]["role"] == "door_staff"
    assert theirs["organizations"][0]["event_ids"] == [event.id]


def test_delete_anonymises_revokes_sessions_and_keeps_orders(
    client: TestClient, db: Database, sign_in: SignIn
) -> None:
    tokens = sign_in("leaving@example.com")
    other_device = sign_in("leaving@example.com")
    uid = tokens["user"]["id"]
    owner = db.mutation(lambda s: make_user(s))
    org = db.mutation(lambda s: make_organization(s, owner))
    event = db.mutation(lambda s: make_event(s, org))
    tier = db.mutation(lambda s: make_tier(s, event))
    order, _ = db.mutation(
        lambda s: make_order(s, event, tier, buyer_user_id=uid, buyer_email="leaving@example.com")
    )
    client.patch(ME, headers=bearer(tokens), json={"name": "Leaving", "phone": "+2348012345678"})

    assert client.delete(ME, headers=bearer(tokens)).status_code == 204

    for t in (tokens, other_device):
        resp = client.get(ME, headers=bearer(t))
        assert resp.status_code == 401
        assert (
            client.post(
                "/api/v1/auth/refresh", json={"refresh_token": t["refresh_token"]}
            ).status_code
            == 401
        )
    user = db.query(lambda s: s.get(User, uid))
    assert user is not None
    assert (user.email, user.name, user.phone) == (None, None, None)
    assert user.deleted_at is not None
    assert (
        db.query(
            lambda s: s.scalar(
                select(func.count()).select_from(AuthAccount).where(AuthAccount.user_id == uid)
            )
        )
        == 0
    )
    assert (
        db.query(
            lambda s: s.scalar(
                select(func.count())
                .select_from(SignInCode)
                .where(SignInCode.email == "leaving@example.com")
            )
        )
        == 0
    )
    assert (
        db.query(
            lambda s: s.scalar(
                select(func.count())
                .select_from(EmailDelivery)
                .where(EmailDelivery.recipient == "leaving@example.com")
            )
        )
        == 0
    )
    kept = db.query(lambda s: s.get(Order, order.id))
    assert kept is not None
    assert kept.buyer_user_id == uid  # the organizer's books still add up


def test_the_address_of_a_deleted_account_can_start_afresh(
    client: TestClient, sign_in: SignIn
) -> None:
    old = sign_in("again@example.com")
    client.delete(ME, headers=bearer(old))
    new = sign_in("again@example.com")
    assert new["user"]["id"] != old["user"]["id"]
    assert client.get(ME, headers=bearer(new)).json()["email"] == "again@example.com"
