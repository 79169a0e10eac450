"""Team members of an organization: invitations by e-mail, roles, event limits, owners."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.ids import OrganizationId, TeamMemberId
from admitone.emails.render import render
from admitone.orgs.invitations import hash_token
from admitone.orgs.models import Invitation, TeamMember
from admitone.settings import Settings
from admitone.users.models import User
from tests.access.helpers import invitation_context, invitation_token, queued_emails
from tests.access.world import World
from tests.factories import add_team_member, auth_headers, make_event, make_organization, make_user

OWNER = "team:owner"


def _team(world: World) -> str:
    return f"/api/v1/organizations/{world.org.id}/team"


def _invite(client: TestClient, world: World, email: str, role: str = "viewer", **extra: Any):  # type: ignore[no-untyped-def]
    return client.post(
        _team(world), json={"email": email, "role": role, **extra}, headers=world.headers[OWNER]
    )


def _person(db: Database, settings: Settings, **overrides: Any) -> tuple[User, dict[str, str]]:
    with db.session() as s:
        user = make_user(s, **overrides)
        return user, auth_headers(s, settings, user)


def _token(db: Database, settings: Settings, email: str) -> str:
    with db.session() as s:
        return invitation_token(s, settings, email)


def _accept(client: TestClient, token: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/invitations/{token}/accept", headers=headers)


def test_invitation_email_carries_a_link_whose_token_is_stored_only_hashed(
    client: TestClient, db: Database, settings: Settings, world: World
) -> None:
    resp = _invite(client, world, "Ada@Example.com", "manager")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["email"] == "ada@example.com"
    assert body["status"] == "pending"
    assert body["role"] == "manager"

    with db.session() as s:
        [job] = queued_emails(s, "ada@example.com")
        context = invitation_context(s, settings, "ada@example.com")
        token = invitation_token(s, settings, "ada@example.com")
        stored = s.scalar(select(Invitation).where(Invitation.id == body["id"]))
    assert job["template"] == "invitation"
    assert context["accept_url"] == f"http://testserver/invitations/{token}"
    assert token not in json.dumps(job)  # sealed in the job row
    assert stored is not None
    assert stored.token_hash == hash_token(token) != token
    rendered = render("invitation", context)
    assert world.org.name in rendered.subject
    assert "as manager" in rendered.text
    workspace = render("invitation", {**context, "kind": "workspace", "role": "admin"})
    assert f"the {world.org.name} workspace" in workspace.text
    assert context["accept_url"] in rendered.text
    assert rendered.html is not None
    assert context["accept_url"] in rendered.html


def test_invitee_accepts_and_joins_the_team_with_the_invited_role(
    client: TestClient, db: Database, settings: Settings, world: World
) -> None:
    assert _invite(client, world, "joiner@example.com", "finance").status_code == 201
    joiner, headers = _person(db, settings, email="joiner@example.com")
    assert client.get(f"/api/v1/organizations/{world.org.id}", headers=headers).status_code == 404

    resp = _accept(client, _token(db, settings, "joiner@example.com"), headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["organization_id"] == world.org.id
    assert resp.json()["role"] == "finance"
    assert resp.json()["invitation"]["status"] == "accepted"

    team = client.get(_team(world), params={"limit": 200}, headers=world.headers[OWNER]).json()
    assert {"user_id": joiner.id, "role": "finance"} in [
        {"user_id": m["user"]["id"], "role": m["role"]} for m in team["items"]
    ]
    caps = client.get(
        "/api/v1/me/capabilities", params={"organization_id": world.org.id}, headers=headers
    ).json()
    assert "order.refund" in caps["capabilities"]
    audit = client.get(
        f"/api/v1/organizations/{world.org.id}/audit", headers=world.headers[OWNER]
    ).json()["items"]
    assert [a["action"] for a in audit[:2]] == ["team_member.added", "team_member.invited"]
    assert audit[0]["actor_user_id"] == joiner.id


def test_an_invitation_works_once(
    client: TestClient, db: Database, settings: Settings, world: World
) -> None:
    _invite(client, world, "once@example.com")
    token = _token(db, settings, "once@example.com")
    _, headers = _person(db, settings, email="once@example.com")
    first = _accept(client, token, headers)
    assert first.status_code == 200
    again = _accept(client, token, headers)  # the same invitee: answered, nothing added
    assert again.status_code == 200
    assert again.json()["member_id"] == first.json()["member_id"]
    _, other = _person(db, settings)
    used = _accept(client, token, other)
    assert used.status_code == 409
    assert used.json()["code"] == "invitation_used"


def test_only_the_invitee_with_a_verified_address_can_accept(
    client: TestClient, db: Database, settings: Settings, world: World
) -> None:
    _invite(client, world, "right@example.com")
    token = _token(db, settings, "right@example.com")
    _, someone_else = _person(db, settings)
    wrong = _accept(client, token, someone_else)
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "invitation_email_mismatch"
    _, unverified = _person(db, settings, email="right@example.com", email_verified_at=None)
    resp = _accept(client, token, unverified)
    assert resp.status_code == 403
    assert resp.json()["code"] == "email_not_verified"


def test_expired_revoked_and_unknown_tokens_are_refused(
    client: TestClient, db: Database, settings: Settings, world: World
) -> None:
    late = _invite(client, world, "late@example.com").json()
    with db.session() as s:
        s.execute(
            update(Invitation)
            .where(Invitation.id == late["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    _, late_headers = _person(db, settings, email="late@example.com")
    expired = _accept(client, _token(db, settings, "late@example.com"), late_headers)
    assert (expired.status_code, expired.json()["code"]) == (410, "invitation_expired")

    gone = _invite(client, world, "gone@example.com").json()
    revoked = client.post(f"/api/v1/invitations/{gone['id']}/revoke", headers=world.headers[OWNER])
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    _, gone_headers = _person(db, settings, email="gone@example.com")
    refused = _accept(client, _token(db, settings, "gone@example.com"), gone_headers)
    assert (refused.status_code, refused.json()["code"]) == (410, "invitation_revoked")
    twice = client.post(f"/api/v1/invitations/{gone['id']}/revoke", headers=world.headers[OWNER])
    assert (twice.status_code, twice.json()["code"]) == (409, "invitation_not_pending")

    unknown = _accept(client, "x" * 43, gone_headers)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "invitation_not_found")


def test_resend_mails_a_new_link_and_voids_the_old_one(
    client: TestClient, db: Database, settings: Settings, world: World
) -> None:
    inv = _invite(client, world, "resend@example.com").json()
    old = _token(db, settings, "resend@example.com")
    too_soon = client.post(f"/api/v1/invitations/{inv['id']}/resend", headers=world.headers[OWNER])
    assert too_soon.status_code == 429
    assert too_soon.headers["retry-after"]
    with db.session() as s:
        s.execute(
            update(Invitation)
            .where(Invitation.id == inv["id"])
            .values(last_sent_at=utcnow() - timedelta(minutes=2))
        )
    resent = client.post(f"/api/v1/invitations/{inv['id']}/resend", headers=world.headers[OWNER])
    assert resent.status_code == 200, resent.text
    assert resent.json()["expires_at"] >= inv["expires_at"]
    new = _token(db, settings, "resend@example.com")
    assert new != old
    _, headers = _person(db, settings, email="resend@example.com")
    assert _accept(client, old, headers).json()["code"] == "invitation_not_found"
    assert _accept(client, new, headers).status_code == 200


def test_inviting_a_member_or_an_already_invited_address_conflicts(
    client: TestClient, world: World
) -> None:
    viewer_email = world.users["team:viewer"].email
    member = _invite(client, world, str(viewer_email))
    assert (member.status_code, member.json()["code"]) == (409, "already_member")
    assert _invite(client, world, "twice@example.com").status_code == 201
    again = _invite(client, world, "TWICE@example.com")
    assert (again.status_code, again.json()["code"]) == (409, "invitation_pending")


def test_role_limited_to_some_events_reaches_only_those(
    client: TestClient, db: Database, settings: Settings, world: World
) -> None:
    resp = _invite(client, world, "door@example.com", "door_staff", event_ids=[world.event.id])
    assert resp.status_code == 201, resp.text
    _, headers = _person(db, settings, email="door@example.com")
    assert _accept(client, _token(db, settings, "door@example.com"), headers).status_code == 200
    caps = client.get(
        "/api/v1/me/capabilities", params={"organization_id": world.org.id}, headers=headers
    ).json()
    assert caps["event_ids"] == [world.event.id]
    assert "checkin.scan" in caps["capabilities"]
    assert "team.read" not in caps["capabilities"]


def test_event_limits_must_name_events_of_the_organization(
    client: TestClient, db: Database, settings: Settings, world: World
) -> None:
    with db.session() as s:
        elsewhere = make_event(s, make_organization(s, make_user(s)))
    foreign = _invite(client, world, "a@example.com", "manager", event_ids=[elsewhere.id])
    assert (foreign.status_code, foreign.json()["code"]) == (422, "unknown_events")
    assert foreign.json()["event_ids"] == [elsewhere.id]
    owner = _invite(client, world, "b@example.com", "owner", event_ids=[world.event.id])
    assert (owner.status_code, owner.json()["code"]) == (422, "owner_cannot_be_limited")
    wrong_prefix = _invite(client, world, "c@example.com", "manager", event_ids=[world.org.id])
    assert (wrong_prefix.status_code, wrong_prefix.json()["code"]) == (422, "validation_error")


def test_admins_manage_the_team_but_not_its_owners(
    client: TestClient, db: Database, world: World
) -> None:
    admin = world.headers["team:admin"]
    invite_owner = client.post(
        _team(world), json={"email": "boss@example.com", "role": "owner"}, headers=admin
    )
    assert invite_owner.status_code == 403
    assert invite_owner.json()["capability"] == "team.owners.manage"
    with db.session() as s:
        owner_member = s.scalar(
            select(TeamMember).where(TeamMember.user_id == world.users[OWNER].id)
        )
    assert owner_member is not None
    member_url = f"{_team(world)}/{owner_member.id}"
    demote = client.patch(member_url, json={"role": "viewer"}, headers=admin)
    assert (demote.status_code, demote.json()["capability"]) == (403, "team.owners.manage")
    remove = client.delete(member_url, headers=admin)
    assert (remove.status_code, remove.json()["capability"]) == (403, "team.owners.manage")
    viewer = _member_id(db, world, "team:viewer")
    promote = client.patch(f"{_team(world)}/{viewer}", json={"role": "owner"}, headers=admin)
    assert (promote.status_code, promote.json()["capability"]) == (403, "team.owners.manage")
    ok = client.patch(f"{_team(world)}/{viewer}", json={"role": "manager"}, headers=admin)
    assert ok.status_code == 200
    assert ok.json()["role"] == "manager"


def _member_id(db: Database, world: World, principal: str) -> str:
    with db.session() as s:
        found = s.scalar(
            select(TeamMember.id).where(
                TeamMember.user_id == world.users[principal].id,
                TeamMember.organization_id == world.org.id,
            )
        )
    assert found is not None
    return found


def test_the_last_owner_can_neither_leave_nor_be_demoted(
    client: TestClient, db: Database, world: World
) -> None:
    headers = world.headers[OWNER]
    mine = f"{_team(world)}/{_member_id(db, world, OWNER)}"
    leave = client.delete(mine, headers=headers)
    assert (leave.status_code, leave.json()["code"]) == (409, "last_owner")
    demote = client.patch(mine, json={"role": "admin"}, headers=headers)
    assert (demote.status_code, demote.json()["code"]) == (409, "last_owner")

    admin_member = _member_id(db, world, "team:admin")
    promoted = client.patch(
        f"{_team(world)}/{admin_member}", json={"role": "owner"}, headers=headers
    )
    assert promoted.status_code == 200
    assert client.delete(mine, headers=headers).status_code == 204
    assert client.get(_team(world), headers=headers).status_code == 404


def test_a_removed_member_loses_access_on_the_next_request(
    client: TestClient, db: Database, world: World
) -> None:
    viewer = world.headers["team:viewer"]
    org_url = f"/api/v1/organizations/{world.org.id}"
    assert client.get(org_url, headers=viewer).status_code == 200
    member_id = _member_id(db, world, "team:viewer")
    removed = client.delete(f"{_team(world)}/{member_id}", headers=world.headers[OWNER])
    assert removed.status_code == 204
    assert client.get(org_url, headers=viewer).status_code == 404
    caps = client.get(
        "/api/v1/me/capabilities", params={"organization_id": world.org.id}, headers=viewer
    )
    assert caps.status_code == 404
    audit = client.get(f"{org_url}/audit", headers=world.headers[OWNER]).json()["items"][0]
    assert audit["action"] == "team_member.removed"
    assert audit["before"]["role"] == "viewer"
    assert audit["request_id"] == removed.headers["x-request-id"]


def test_a_member_limit_can_be_set_and_lifted(
    client: TestClient, db: Database, world: World
) -> None:
    url = f"{_team(world)}/{_member_id(db, world, 'team:manager')}"
    headers = world.headers[OWNER]
    limited = client.patch(url, json={"event_ids": [world.event.id]}, headers=headers)
    assert limited.status_code == 200
    assert limited.json()["event_ids"] == [world.event.id]
    manager = world.headers["team:manager"]
    other = client.get(f"/api/v1/events/{world.other_event.id}", headers=manager)
    assert other.status_code == 404
    lifted = client.patch(url, json={"event_ids": None}, headers=headers)
    assert lifted.json()["event_ids"] is None
    assert client.get(f"/api/v1/events/{world.other_event.id}", headers=manager).status_code == 200


def test_bad_team_requests_are_clear_4xx(client: TestClient, db: Database, world: World) -> None:
    headers = world.headers[OWNER]
    cases = [
        ({"email": "not-an-email", "role": "viewer"}, 422),
        ({"email": "a@example.com", "role": "emperor"}, 422),
        ({"email": "a@example.com", "role": "viewer", "surprise": 1}, 422),
        ({"email": "a@example.com", "role": "viewer", "event_ids": []}, 422),
    ]
    for body, status in cases:
        resp = client.post(_team(world), json=body, headers=headers)
        assert resp.status_code == status, (body, resp.text)
        assert resp.json()["code"] == "validation_error"
    malformed = client.post(
        _team(world), content=b"{", headers={**headers, "content-type": "application/json"}
    )
    assert (malformed.status_code, malformed.json()["code"]) == (400, "malformed_json")
    wrong_prefix = client.delete(f"{_team(world)}/{world.org.id}", headers=headers)
    assert wrong_prefix.status_code == 422
    with db.session() as s:
        elsewhere = make_organization(s, make_user(s))
        foreign = add_team_member(s, elsewhere, make_user(s), "viewer")
    not_ours = client.delete(f"{_team(world)}/{foreign.id}", headers=headers)
    assert (not_ours.status_code, not_ours.json()["code"]) == (404, "member_not_found")
    missing = client.delete(f"{_team(world)}/{TeamMemberId.new()}", headers=headers)
    assert missing.status_code == 404
    no_org = client.get(f"/api/v1/organizations/{OrganizationId.new()}/team", headers=headers)
    assert no_org.status_code == 404


def test_team_list_is_cursor_paginated(client: TestClient, world: World) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(_team(world), params=params, headers=world.headers[OWNER]).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8  # seven roles and the limited manager
    bad = client.get(_team(world), params={"cursor": "nope"}, headers=world.headers[OWNER])
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_cursor")


def test_resending_an_expired_invitation_revives_it(
    client: TestClient, db: Database, settings: Settings, world: World
) -> None:
    inv = _invite(client, world, "lapsed@example.com").json()
    with db.session() as s:
        s.execute(
            update(Invitation)
            .where(Invitation.id == inv["id"])
            .values(
                expires_at=utcnow() - timedelta(days=1),
                last_sent_at=utcnow() - timedelta(days=8),
            )
        )
    listed = client.get(
        f"/api/v1/organizations/{world.org.id}/invitations", headers=world.headers[OWNER]
    ).json()["items"]
    assert [i["status"] for i in listed if i["id"] == inv["id"]] == ["expired"]
    resent = client.post(f"/api/v1/invitations/{inv['id']}/resend", headers=world.headers[OWNER])
    assert resent.status_code == 200
    assert resent.json()["status"] == "pending"
    _, headers = _person(db, settings, email="lapsed@example.com")
    assert _accept(client, _token(db, settings, "lapsed@example.com"), headers).status_code == 200


def test_a_member_leaves_the_team_on_their_own_but_the_last_owner_cannot(
    client: TestClient, world: World
) -> None:
    leave = f"{_team(world)}/me"
    door = world.headers["team:door_staff"]
    assert client.delete(leave, headers=door).status_code == 204
    assert client.get(f"/api/v1/organizations/{world.org.id}", headers=door).status_code == 404
    again = client.delete(leave, headers=door)
    assert (again.status_code, again.json()["code"]) == (404, "member_not_found")
    owner = client.delete(leave, headers=world.headers[OWNER])
    assert (owner.status_code, owner.json()["code"]) == (409, "last_owner")
    audit = client.get(
        f"/api/v1/organizations/{world.org.id}/audit", headers=world.headers[OWNER]
    ).json()["items"][0]
    assert (audit["action"], audit["actor_user_id"]) == (
        "team_member.left",
        world.users["team:door_staff"].id,
    )
