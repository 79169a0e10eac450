"""The checks every use case calls (`require_capability`, `require_at_event`, `guard`) and
the audit rows they write: who may and may not act, and what each refusal says."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.access.capabilities import LIMITED_ROLE_KEEPS, PLATFORM_ROLES, TEAM_ROLES, Capability
from admitone.access.errors import CapabilityRequired, ScopeNotFound
from admitone.access.models import AuditEntry
from admitone.access.service import (
    Grant,
    Scope,
    audit_entries,
    events_of_organization,
    grant_for,
    guard,
    my_grant,
    record_audit,
    require_at_event,
    require_capability,
)
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.core.http import request_id_var
from admitone.core.ids import EventId, OrganizationId
from tests.access.world import LIMITED, World, make_org_in
from tests.factories import grant_platform_role, make_event, make_user

C = Capability


def _uid(world: World, principal: str) -> str:
    return world.users[principal].id


def _refusal(
    db: Database, fn: Any, *args: Any, **kwargs: Any
) -> tuple[type[Exception], str, dict[str, Any]]:
    """(error class, detail, extra fields of the problem body) of a refused check."""
    with pytest.raises((ScopeNotFound, CapabilityRequired)) as caught:
        db.query(fn, *args, **kwargs)
    return type(caught.value), caught.value.detail, caught.value.extra


def test_no_role_in_a_scope_is_a_404_naming_the_scope(db: Database, world: World) -> None:
    stranger = _uid(world, "stranger")
    for scope, name in [
        (Scope.platform(), "platform"),
        (Scope.workspace(world.workspace.id), "workspace"),
        (Scope.organization(world.org.id), "organization"),
        (Scope.event(world.event.id), "event"),
    ]:
        refused = _refusal(db, require_capability, stranger, C.EVENT_READ, scope)
        assert refused == (ScopeNotFound, f"No such {name}.", {"resource": name})
    # scopes that do not exist answer the same, whoever asks
    admin = _uid(world, "platform:superadmin")
    assert _refusal(
        db, require_capability, admin, C.EVENT_READ, Scope.organization(OrganizationId.new())
    ) == (ScopeNotFound, "No such organization.", {"resource": "organization"})
    assert _refusal(db, require_capability, admin, C.EVENT_READ, Scope.event(EventId.new())) == (
        ScopeNotFound,
        "No such event.",
        {"resource": "event"},
    )


def test_a_role_without_the_capability_is_a_403_naming_it(db: Database, world: World) -> None:
    viewer = _uid(world, "team:viewer")
    refused = _refusal(
        db, require_capability, viewer, C.ORG_UPDATE, Scope.organization(world.org.id)
    )
    assert refused == (
        CapabilityRequired,
        "This needs the `org.update` capability.",
        {"capability": "org.update"},
    )
    grant = db.query(
        require_capability,
        _uid(world, "team:owner"),
        C.ORG_UPDATE,
        Scope.organization(world.org.id),
    )
    assert (grant.organization_id, grant.workspace_id) == (world.org.id, world.workspace.id)
    assert grant.capabilities == TEAM_ROLES["owner"]


def test_my_grant_is_the_callers_set_or_a_404(db: Database, world: World) -> None:
    mine = db.query(my_grant, _uid(world, "team:door_staff"), world.org.id)
    assert mine.capabilities == TEAM_ROLES["door_staff"]
    assert _refusal(db, my_grant, _uid(world, "stranger"), world.org.id) == (
        ScopeNotFound,
        "No such organization.",
        {"resource": "organization"},
    )


def test_a_grant_says_what_and_which_events_it_reaches() -> None:
    limited = Grant(frozenset({C.EVENT_READ}), "org", "ws", frozenset({"evt_a"}))
    assert limited.allows(C.EVENT_READ)
    assert not limited.allows(C.EVENT_UPDATE)
    assert limited.allows_event("evt_a")
    assert not limited.allows_event("evt_b")
    assert Grant(frozenset({C.EVENT_READ}), "org", "ws").allows_event("evt_b")


def test_a_limited_role_keeps_only_the_event_capabilities_and_a_platform_role_lifts_it(
    db: Database, world: World
) -> None:
    limited = _uid(world, LIMITED)
    expected = TEAM_ROLES["manager"] & LIMITED_ROLE_KEEPS
    at_org = db.query(grant_for, limited, Scope.organization(world.org.id))
    assert (at_org.capabilities, at_org.event_ids) == (expected, {world.other_event.id})
    at_event = db.query(grant_for, limited, Scope.event(world.other_event.id))
    assert (at_event.capabilities, at_event.event_ids) == (expected, None)
    with db.session() as s:
        grant_platform_role(s, world.users[LIMITED], "support")
    lifted = db.query(grant_for, limited, Scope.organization(world.org.id))
    assert lifted.event_ids is None
    assert lifted.capabilities == PLATFORM_ROLES["support"] | expected
    # at its event the limited role adds to the platform role's set, it does not replace it
    both = db.query(grant_for, limited, Scope.event(world.other_event.id))
    assert both.capabilities == PLATFORM_ROLES["support"] | expected


def _public_event(db: Database, world: World, **overrides: Any) -> str:
    with db.session() as s:
        values = {"status": "published", "visibility": "public", "published_at": utcnow()}
        return make_event(s, world.org, **{**values, **overrides}).id


def test_at_an_event_door_staff_scan_and_others_are_refused(db: Database, world: World) -> None:
    public = _public_event(db, world)
    private = _public_event(db, world, visibility="private")
    door = _uid(world, "team:door_staff")
    assert (
        C.CHECKIN_SCAN
        in db.query(require_at_event, door, C.CHECKIN_SCAN, world.event.id).capabilities
    )
    assert C.CHECKIN_SCAN in db.query(require_at_event, door, C.CHECKIN_SCAN, public).capabilities
    scan_refused = (
        CapabilityRequired,
        "This needs the `checkin.scan` capability.",
        {"capability": "checkin.scan"},
    )
    # a role there without the capability: 403
    assert _refusal(db, require_at_event, _uid(world, "team:viewer"), C.CHECKIN_SCAN, public) == (
        scan_refused
    )
    # no role at an event the public pages show: 403 too (its existence is no secret)
    for who in ("stranger", LIMITED):
        assert _refusal(db, require_at_event, _uid(world, who), C.CHECKIN_SCAN, public) == (
            scan_refused
        )
    # no role at a draft or private event, or no such event: 404
    not_found = (ScopeNotFound, "No such event.", {"resource": "event"})
    for event_id in (world.event.id, private, EventId.new()):
        for who in ("stranger", LIMITED):
            got = _refusal(db, require_at_event, _uid(world, who), C.CHECKIN_SCAN, event_id)
            assert got == not_found, (who, event_id)


def test_events_of_organization_keeps_only_its_own(db: Database, world: World) -> None:
    with db.session() as s:
        foreign = make_event(s, make_org_in(s, world.workspace, "Sibling")).id
    # the organization's other event is not asked about, so it is not in the answer
    asked = [world.event.id, foreign, EventId.new()]
    assert db.query(events_of_organization, world.org.id, asked) == {world.event.id}
    assert db.query(events_of_organization, world.org.id, []) == set()


def _audit_rows(db: Database, action: str) -> list[AuditEntry]:
    with db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _guarded_change(db: Database, actor: str, scope: Scope, action: str, **change: Any) -> None:
    with db.session() as s:
        g = guard(s, actor, C.AUDIT_READ, scope)
        g.audit(action, "thing", "thing_1", **change)


def test_guard_writes_one_audit_row_in_the_scopes_log(db: Database, world: World) -> None:
    cases = [
        ("team:owner", Scope.organization(world.org.id), world.org.id, None),
        ("team:owner", Scope.event(world.event.id), world.org.id, None),
        ("workspace:owner", Scope.workspace(world.workspace.id), None, world.workspace.id),
        ("platform:superadmin", Scope.platform(), None, None),
    ]
    for n, (principal, scope, org_id, ws_id) in enumerate(cases):
        action = f"thing.changed_{n}"
        token = request_id_var.set(f"req-{n}")
        try:
            _guarded_change(
                db, _uid(world, principal), scope, action, before={"a": 1}, after={"a": 2}
            )
        finally:
            request_id_var.reset(token)
        [row] = _audit_rows(db, action)
        assert (row.organization_id, row.workspace_id) == (org_id, ws_id), scope
        assert (row.actor_user_id, row.target_type, row.target_id) == (
            _uid(world, principal),
            "thing",
            "thing_1",
        )
        assert (row.before, row.after, row.request_id) == ({"a": 1}, {"a": 2}, f"req-{n}")


def test_guard_skips_the_row_of_a_change_that_changed_nothing(db: Database, world: World) -> None:
    owner, org = _uid(world, "team:owner"), Scope.organization(world.org.id)
    for action, change in [
        ("thing.same", {"before": {"a": 1}, "after": {"a": 1}}),
        ("thing.created", {"after": {"a": 1}}),
        ("thing.deleted", {"before": {"a": 1}}),
        ("thing.touched", {}),
    ]:
        _guarded_change(db, owner, org, action, **change)
    assert _audit_rows(db, "thing.same") == []
    for action in ("thing.created", "thing.deleted", "thing.touched"):
        assert len(_audit_rows(db, action)) == 1, action


def test_guard_refuses_like_require_capability_and_its_require_checks_the_grant(
    db: Database, world: World
) -> None:
    org = Scope.organization(world.org.id)
    with db.session() as s, pytest.raises(CapabilityRequired):
        guard(s, _uid(world, "team:viewer"), C.TEAM_MANAGE, org)
    with db.session() as s:
        owner = guard(s, _uid(world, "team:owner"), C.TEAM_MANAGE, org)
        owner.require(C.TEAM_OWNERS_MANAGE)
        assert (owner.actor_user_id, owner.scope) == (_uid(world, "team:owner"), org)
        admin = guard(s, _uid(world, "team:admin"), C.TEAM_MANAGE, org)
        with pytest.raises(CapabilityRequired) as caught:
            admin.require(C.TEAM_OWNERS_MANAGE)
        assert caught.value.extra == {"capability": "team.owners.manage"}


def _record(s: Session, world: World, action: str, **where: str) -> None:
    record_audit(
        s,
        actor_user_id=_uid(world, "team:owner"),
        action=action,
        target_type="thing",
        target_id="thing_1",
        **where,
    )


def test_each_audit_log_holds_only_its_own_rows(db: Database, world: World) -> None:
    with db.session() as s:
        _record(s, world, "thing.in_org", organization_id=world.org.id)
        _record(s, world, "thing.in_workspace", workspace_id=world.workspace.id)
        _record(s, world, "thing.on_platform")
        other_org = make_org_in(s, world.workspace, "Sibling")
        _record(s, world, "thing.elsewhere", organization_id=other_org.id)

    def actions(principal: str, scope: Scope) -> set[str]:
        rows, _ = db.query(audit_entries, _uid(world, principal), scope, limit=50, cursor=None)
        return {r.action for r in rows if r.action.startswith("thing.")}

    assert actions("team:owner", Scope.organization(world.org.id)) == {"thing.in_org"}
    assert actions("workspace:owner", Scope.workspace(world.workspace.id)) == {"thing.in_workspace"}
    assert actions("platform:support", Scope.platform()) == {
        "thing.in_org",
        "thing.in_workspace",
        "thing.on_platform",
        "thing.elsewhere",
    }
    refused = _refusal(
        db,
        audit_entries,
        _uid(world, "team:viewer"),
        Scope.organization(world.org.id),
        limit=50,
        cursor=None,
    )
    assert refused[2] == {"capability": "audit.read"}


def test_a_new_user_holds_nothing_anywhere(db: Database, world: World) -> None:
    with db.session() as s:
        nobody = make_user(s).id
    grant = db.query(grant_for, nobody, Scope.organization(world.org.id))
    assert grant == Grant(frozenset(), world.org.id, world.workspace.id, None)
