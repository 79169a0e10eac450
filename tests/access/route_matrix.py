"""The authorization matrix: every /api/v1 and /support/v1 route, declared once.

HOW TO ADD YOUR ROUTE (tests/access/test_matrix.py fails for any route listed nowhere):
- Public (no sign-in at all, e.g. webhooks, OTP start, public event pages): add
  `(METHOD, "/api/v1/path/{param}")` to PUBLIC with a short reason.
- Signed-in, acting only on the caller's own things (`/me/...`, accepting an invitation):
  add it to SIGNED_IN with a reason; the test checks that an anonymous call is a 401.
- Privileged (calls `require_capability`): add a `Privileged(...)` to PRIVILEGED with the
  method, the path template exactly as FastAPI lists it, the capability it requires, the
  scope kind it checks ("organization", "event", "workspace" or "platform": the test uses
  the world's organization / main `event` / workspace), and `build`, a function that gets
  a `Ctx` (an open session `ctx.s` and the `World` of tests/access/world.py) and returns
  the `Call` (path params, JSON body, query) that an allowed caller makes successfully
  (2xx). `build` runs once per principal, so create a fresh target each time when the
  call consumes it (a member to remove, an event to cancel). Use tests/factories.py.
  For a route whose rule is not one capability, pass `expect=` (principal -> outcome).
The test then calls the route as every team role, workspace role, platform role and a
stranger and asserts: allowed -> 2xx, holds a role there but not the capability -> 403
`capability_required` naming it, holds no role there -> 404; anonymous -> 401.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import ScopeKind
from admitone.core.ids import UserId
from tests.access.world import World, expected_capabilities
from tests.factories import add_team_member, grant_platform_role, make_pass, make_user

C = Capability
Outcome = Literal["allowed", "forbidden", "not_found"]


@dataclass(frozen=True)
class Ctx:
    s: Session
    w: World


@dataclass(frozen=True)
class Call:
    path: dict[str, str] = field(default_factory=dict)
    json: Any = None
    query: dict[str, str] | None = None


@dataclass(frozen=True)
class Privileged:
    method: str
    path: str
    capability: Capability
    scope: ScopeKind
    build: Callable[[Ctx], Call]
    expect: Callable[[str], Outcome] | None = None

    def outcome(self, principal: str) -> Outcome:
        if self.expect is not None:
            return self.expect(principal)
        caps = expected_capabilities(principal, self.scope)
        if not caps:
            return "not_found"
        return "allowed" if self.capability in caps else "forbidden"


# --- builders ----------------------------------------------------------------------------


def _org(ctx: Ctx) -> Call:
    return Call({"organization_id": ctx.w.org.id})


def _workspace(ctx: Ctx) -> Call:
    return Call({"workspace_id": ctx.w.workspace.id})


def _fresh_email(ctx: Ctx) -> str:
    return f"{UserId.new().lower()}@invitee.example"


def _invite_to_team(ctx: Ctx) -> Call:
    return Call(_org(ctx).path, json={"email": _fresh_email(ctx), "role": "viewer"})


def _invite_to_workspace(ctx: Ctx) -> Call:
    return Call(_workspace(ctx).path, json={"email": _fresh_email(ctx), "role": "member"})


def _fresh_team_member(ctx: Ctx) -> Call:
    member = add_team_member(ctx.s, ctx.w.org, make_user(ctx.s), "viewer")
    return Call({"organization_id": ctx.w.org.id, "member_id": member.id})


def _fresh_team_member_patch(ctx: Ctx) -> Call:
    call = _fresh_team_member(ctx)
    return Call(call.path, json={"role": "door_staff"})


def _fresh_workspace_member(ctx: Ctx) -> Call:
    from tests.access.world import add_workspace_member

    member = add_workspace_member(ctx.s, ctx.w.workspace, make_user(ctx.s), "member")
    return Call({"workspace_id": ctx.w.workspace.id, "member_id": member.id})


def _fresh_workspace_member_patch(ctx: Ctx) -> Call:
    return Call(_fresh_workspace_member(ctx).path, json={"role": "admin"})


def _fresh_team_invitation(ctx: Ctx) -> Call:
    from tests.access.helpers import make_invitation

    invitation = make_invitation(ctx.s, ctx.w, organization_id=ctx.w.org.id, role="viewer")
    return Call({"invitation_id": invitation.id})


def _team_invitation_sent_earlier(ctx: Ctx) -> Call:
    """Resending is throttled to once a minute: this one was sent two minutes ago."""
    from tests.access.helpers import make_invitation

    invitation = make_invitation(ctx.s, ctx.w, organization_id=ctx.w.org.id, role="viewer")
    invitation.last_sent_at -= timedelta(minutes=2)
    ctx.s.flush()
    return Call({"invitation_id": invitation.id})


def _new_platform_role(ctx: Ctx) -> Call:
    return Call(json={"user_id": make_user(ctx.s).id, "role": "support"})


def _granted_platform_role(ctx: Ctx) -> Call:
    return Call({"role_id": grant_platform_role(ctx.s, make_user(ctx.s), "moderator").id})


def _event_pass(ctx: Ctx) -> Call:
    return Call({"pass_id": make_pass(ctx.s, ctx.w.event, ctx.w.tier).id})


def _any_role_there(scope: ScopeKind) -> Callable[[str], Outcome]:
    """Routes that answer whoever holds any role in the scope (and 404 to the others)."""
    return lambda principal: "allowed" if expected_capabilities(principal, scope) else "not_found"


# --- the table ---------------------------------------------------------------------------

PUBLIC: dict[tuple[str, str], str] = {}

SIGNED_IN: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/workspaces"): "anyone signed in may found a workspace",
    ("GET", "/api/v1/workspaces"): "the caller's own workspaces",
    ("GET", "/api/v1/organizations"): "organizations where the caller holds a role",
    ("POST", "/api/v1/invitations/{token}/accept"): "the invitee, by verified e-mail",
    ("GET", "/api/v1/me/passes"): "the caller's own passes",
}

PRIVILEGED: list[Privileged] = [
    # workspaces
    Privileged("GET", "/api/v1/workspaces/{workspace_id}", C.WORKSPACE_READ, "workspace",
               _workspace),
    Privileged("GET", "/api/v1/workspaces/{workspace_id}/members", C.WORKSPACE_READ,
               "workspace", _workspace),
    Privileged("POST", "/api/v1/workspaces/{workspace_id}/members", C.WORKSPACE_MANAGE,
               "workspace", _invite_to_workspace),
    Privileged("PATCH", "/api/v1/workspaces/{workspace_id}/members/{member_id}",
               C.WORKSPACE_MANAGE, "workspace", _fresh_workspace_member_patch),
    Privileged("DELETE", "/api/v1/workspaces/{workspace_id}/members/{member_id}",
               C.WORKSPACE_MANAGE, "workspace", _fresh_workspace_member),
    Privileged("GET", "/api/v1/workspaces/{workspace_id}/invitations", C.WORKSPACE_READ,
               "workspace", _workspace),
    # organizations
    Privileged("POST", "/api/v1/organizations", C.ORG_CREATE, "workspace",
               lambda ctx: Call(json={"workspace_id": ctx.w.workspace.id, "name": "New Org"})),
    Privileged("GET", "/api/v1/organizations/{organization_id}", C.ORG_READ, "organization",
               _org),
    Privileged("PATCH", "/api/v1/organizations/{organization_id}", C.ORG_UPDATE,
               "organization", lambda ctx: Call(_org(ctx).path, json={"name": "Renamed"})),
    Privileged("GET", "/api/v1/organizations/{organization_id}/audit", C.AUDIT_READ,
               "organization", _org),
    # team
    Privileged("GET", "/api/v1/organizations/{organization_id}/team", C.TEAM_READ,
               "organization", _org),
    Privileged("POST", "/api/v1/organizations/{organization_id}/team", C.TEAM_MANAGE,
               "organization", _invite_to_team),
    Privileged("PATCH", "/api/v1/organizations/{organization_id}/team/{member_id}",
               C.TEAM_MANAGE, "organization", _fresh_team_member_patch),
    Privileged("DELETE", "/api/v1/organizations/{organization_id}/team/{member_id}",
               C.TEAM_MANAGE, "organization", _fresh_team_member),
    Privileged("GET", "/api/v1/organizations/{organization_id}/invitations", C.TEAM_READ,
               "organization", _org),
    Privileged("POST", "/api/v1/invitations/{invitation_id}/resend", C.TEAM_MANAGE,
               "organization", _team_invitation_sent_earlier),
    Privileged("POST", "/api/v1/invitations/{invitation_id}/revoke", C.TEAM_MANAGE,
               "organization", _fresh_team_invitation),
    # capabilities and platform roles
    Privileged("GET", "/api/v1/me/capabilities", C.ORG_READ, "organization",
               lambda ctx: Call(query={"organization_id": ctx.w.org.id}),
               expect=_any_role_there("organization")),
    Privileged("GET", "/api/v1/platform/roles", C.PLATFORM_ROLES_MANAGE, "platform",
               lambda ctx: Call()),
    Privileged("POST", "/api/v1/platform/roles", C.PLATFORM_ROLES_MANAGE, "platform",
               _new_platform_role),
    Privileged("DELETE", "/api/v1/platform/roles/{role_id}", C.PLATFORM_ROLES_MANAGE,
               "platform", _granted_platform_role),
    # passes (holders see their own pass; see tests/passes for that rule)
    Privileged("GET", "/api/v1/passes/{pass_id}", C.EVENT_READ, "event", _event_pass),
    Privileged("GET", "/api/v1/passes/{pass_id}/qr.svg", C.EVENT_READ, "event", _event_pass),
]  # fmt: skip


# --- events (appended by the events domain) ------------------------------------------------


def _event_call(ctx: Ctx, json: Any = None) -> Call:
    return Call({"event_id": ctx.w.event.id}, json=json)


def _new_event(ctx: Ctx) -> Call:
    from tests.events.conftest import event_body

    return Call(_org(ctx).path, json=event_body())


def _new_session(ctx: Ctx) -> Call:
    from datetime import timedelta as _td

    starts = ctx.w.event.starts_at
    return _event_call(
        ctx,
        {
            "title": "Set",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + _td(hours=1)).isoformat(),
        },
    )


def _new_tier(ctx: Ctx) -> Call:
    from tests.events.conftest import tier_body

    return _event_call(ctx, tier_body())


PUBLIC[("GET", "/api/v1/public/events/{slug}")] = "buyers read published events without signing in"

PRIVILEGED += [
    Privileged("POST", "/api/v1/organizations/{organization_id}/events", C.EVENT_CREATE,
               "organization", _new_event),
    Privileged("GET", "/api/v1/organizations/{organization_id}/events", C.EVENT_READ,
               "organization", _org),
    Privileged("GET", "/api/v1/events/{event_id}", C.EVENT_READ, "event", _event_call),
    Privileged("PATCH", "/api/v1/events/{event_id}", C.EVENT_UPDATE, "event",
               lambda ctx: _event_call(ctx, {"description": "Updated"})),
    # Publishing and cancelling again are no-ops (200), so every allowed caller may repeat them.
    Privileged("POST", "/api/v1/events/{event_id}/publish", C.EVENT_PUBLISH, "event",
               _event_call),
    Privileged("POST", "/api/v1/events/{event_id}/cancel", C.EVENT_PUBLISH, "event",
               _event_call),
    Privileged("GET", "/api/v1/events/{event_id}/sessions", C.EVENT_READ, "event", _event_call),
    Privileged("POST", "/api/v1/events/{event_id}/sessions", C.EVENT_UPDATE, "event",
               _new_session),
    Privileged("GET", "/api/v1/events/{event_id}/tiers", C.EVENT_READ, "event", _event_call),
    Privileged("POST", "/api/v1/events/{event_id}/tiers", C.TIER_MANAGE, "event", _new_tier),
    Privileged("PATCH", "/api/v1/tiers/{tier_id}", C.TIER_MANAGE, "event",
               lambda ctx: Call({"tier_id": ctx.w.tier.id}, json={"capacity": 50})),
]  # fmt: skip
