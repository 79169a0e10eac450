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
  For a route whose rule is not one capability, pass `expect=` (principal -> outcome);
  for one that also accepts another credential (an order token), `other_credential=`;
  for a server-sent-events stream, `stream=True`.
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
    files: dict[str, Any] | None = None  # a multipart upload, as httpx takes `files=`


@dataclass(frozen=True)
class Privileged:
    method: str
    path: str
    capability: Capability
    scope: ScopeKind
    build: Callable[[Ctx], Call]
    expect: Callable[[str], Outcome] | None = None
    # Another credential also opens the route (e.g. a buyer's order token), so an anonymous
    # call is not simply a 401: say which, and the anonymous check is skipped.
    other_credential: str | None = None
    # A never-ending response (SSE): only the status is read.
    stream: bool = False

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


def _logo_upload(ctx: Ctx) -> Call:
    from tests.factories import image_bytes

    return Call(_org(ctx).path, files={"file": ("logo.jpg", image_bytes(), "image/jpeg")})


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
    ("DELETE", "/api/v1/organizations/{organization_id}/team/me"): "leaving a team oneself",
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
    Privileged("PUT", "/api/v1/organizations/{organization_id}/logo", C.ORG_UPDATE,
               "organization",
               _logo_upload),
    Privileged("DELETE", "/api/v1/organizations/{organization_id}/logo", C.ORG_UPDATE,
               "organization", _org),
    Privileged("GET", "/api/v1/organizations/{organization_id}/audit", C.AUDIT_READ,
               "organization", _org),
    Privileged("GET", "/api/v1/workspaces/{workspace_id}/audit", C.AUDIT_READ, "workspace",
               _workspace),
    Privileged("GET", "/api/v1/platform/audit", C.AUDIT_READ, "platform", lambda ctx: Call()),
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
    Privileged("GET", "/api/v1/passes/{pass_id}/qr.svg", C.EVENT_READ, "event", _event_pass,
               other_credential="the order token of the pass's order (`?token=`)"),
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


def _fresh_session(ctx: Ctx, json: Any = None) -> Call:
    from tests.factories import make_session

    return Call({"session_id": make_session(ctx.s, ctx.w.event).id}, json=json)


PUBLIC[("GET", "/api/v1/public/events/{slug}")] = "buyers read published events without signing in"
PUBLIC[("GET", "/api/v1/public/events")] = "buyers browse published public events"

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
    Privileged("PATCH", "/api/v1/sessions/{session_id}", C.EVENT_UPDATE, "event",
               lambda ctx: _fresh_session(ctx, {"title": "Renamed set"})),
    Privileged("DELETE", "/api/v1/sessions/{session_id}", C.EVENT_UPDATE, "event",
               _fresh_session),
    Privileged("GET", "/api/v1/events/{event_id}/tiers", C.EVENT_READ, "event", _event_call),
    Privileged("POST", "/api/v1/events/{event_id}/tiers", C.TIER_MANAGE, "event", _new_tier),
    Privileged("PATCH", "/api/v1/tiers/{tier_id}", C.TIER_MANAGE, "event",
               lambda ctx: Call({"tier_id": ctx.w.tier.id}, json={"capacity": 50})),
]  # fmt: skip


# --- event cover images --------------------------------------------------------------------


def _cover_upload(ctx: Ctx) -> Call:
    from tests.factories import image_bytes

    return Call({"event_id": ctx.w.event.id},
                files={"file": ("cover.jpg", image_bytes(), "image/jpeg")})  # fmt: skip


def _event_with_cover(ctx: Ctx) -> Call:
    from tests.factories import make_cover

    make_cover(ctx.s, ctx.w.settings, ctx.w.event)
    return _event_call(ctx)


PUBLIC[("GET", "/api/v1/public/events/{slug}/cover")] = "buyers see the cover of a public event"

PRIVILEGED += [
    Privileged("PUT", "/api/v1/events/{event_id}/cover", C.EVENT_UPDATE, "event",
               _cover_upload),
    Privileged("DELETE", "/api/v1/events/{event_id}/cover", C.EVENT_UPDATE, "event",
               _event_with_cover),
    Privileged("GET", "/api/v1/events/{event_id}/cover", C.EVENT_READ, "event",
               _event_with_cover),
]  # fmt: skip


# --- auth, users, orders, payments, check-ins (added by access from their routes) ---------

PUBLIC.update(
    {
        ("POST", "/api/v1/auth/otp/start"): "signing in",
        ("POST", "/api/v1/auth/otp/verify"): "signing in",
        ("POST", "/api/v1/auth/magic-link/start"): "signing in",
        ("POST", "/api/v1/auth/magic-link/verify"): "signing in",
        ("POST", "/api/v1/auth/google"): "signing in (Google ID token)",
        ("POST", "/api/v1/auth/apple"): "signing in (Apple ID token)",
        ("POST", "/api/v1/auth/apple/notifications"): "Apple's server, a signed JWT",
        ("POST", "/api/v1/auth/refresh"): "the refresh token is the credential",
        ("POST", "/api/v1/orders"): "guests buy tickets without an account",
        ("GET", "/support/v1/addons"): "buyers list an event's active add-ons",
        ("GET", "/support/v1/addons/{addon_id}"): "buyers read an active add-on",
        ("POST", "/support/v1/payments/webhooks/{provider}"): "providers, by signature",
        ("GET", "/support/v1/payments/dev/{reference}"): "dev provider checkout page",
        ("POST", "/support/v1/payments/dev/{reference}/approve"): "dev provider checkout page",
        ("POST", "/support/v1/payments/dev/{reference}/decline"): "dev provider checkout page",
    }
)

SIGNED_IN.update(
    {
        ("POST", "/api/v1/auth/sign-out"): "the caller's own session",
        ("POST", "/api/v1/auth/sign-out-all"): "the caller's own sessions",
        ("GET", "/api/v1/me"): "the caller's profile",
        ("PATCH", "/api/v1/me"): "the caller's profile",
        ("DELETE", "/api/v1/me"): "the caller's account",
        ("GET", "/api/v1/me/memberships"): "the caller's memberships",
        ("GET", "/api/v1/me/orders"): "the caller's orders",
    }
)


def _order(ctx: Ctx, **overrides: Any) -> Any:
    from tests.factories import make_order

    order, _ = make_order(ctx.s, ctx.w.event, ctx.w.tier, **overrides)
    return order


def _paid_order(ctx: Ctx) -> Call:
    return Call({"order_id": _order(ctx).id})


def _pending_order(ctx: Ctx) -> Call:
    """A pending order holding one seat, as placing it would have left the tier."""
    from sqlalchemy import update

    from admitone.core.clock import utcnow
    from admitone.events.models import TicketTier

    order = _order(ctx, status="pending", paid_at=None,
                   expires_at=utcnow() + timedelta(minutes=15))  # fmt: skip
    ctx.s.execute(
        update(TicketTier)
        .where(TicketTier.id == ctx.w.tier.id)
        .values(held_count=TicketTier.held_count + 1)
    )
    return Call({"order_id": order.id})


def _refund(ctx: Ctx) -> Call:
    return Call({"order_id": _order(ctx).id}, json={"reason": "matrix"})


def _checkpoint(ctx: Ctx) -> Any:
    from admitone.checkins import service as checkins

    return checkins.create_checkpoint(ctx.s, ctx.w.event.id, checkins.CheckpointSpec(name="Gate"))


def _scan(ctx: Ctx) -> Call:
    return _event_call(ctx, {"code": make_pass(ctx.s, ctx.w.event, ctx.w.tier).code})


def _sync(ctx: Ctx) -> Call:
    from admitone.core.clock import utcnow

    code = make_pass(ctx.s, ctx.w.event, ctx.w.tier).code
    scan = {"code": code, "scanned_at": utcnow().isoformat(), "nonce": UserId.new()}
    return _event_call(ctx, {"scans": [scan]})


def _check_in(ctx: Ctx) -> Call:
    from admitone.checkins import service as checkins

    code = make_pass(ctx.s, ctx.w.event, ctx.w.tier).code
    done = checkins.scan_pass(ctx.s, ctx.w.settings.secret, event_id=ctx.w.event.id,
                              scan=checkins.ScanInput(code=code), user_id=None)  # fmt: skip
    assert done["result"] == "accepted", done
    return Call({"event_id": ctx.w.event.id, "check_in_id": done["check_in_id"]})


def _addon_body(ctx: Ctx) -> Call:
    return Call(json={"event_id": ctx.w.event.id, "name": "Parking",
                      "price": {"amount": 100000, "currency": "NGN"}, "capacity": 10})  # fmt: skip


def _addon(ctx: Ctx) -> Call:
    from tests.factories import make_addon

    return Call({"addon_id": make_addon(ctx.s, ctx.w.event).id}, json={"capacity": 20})


_BUYER_TOKEN = "the buyer's order token (`?token=` or `X-Order-Token`)"

PRIVILEGED += [
    # orders
    Privileged("GET", "/api/v1/orders/{order_id}", C.ORDER_READ, "event", _paid_order,
               other_credential=_BUYER_TOKEN),
    Privileged("POST", "/api/v1/orders/{order_id}/cancel", C.ORDER_MANAGE, "event",
               _pending_order, other_credential=_BUYER_TOKEN),
    Privileged("GET", "/api/v1/orders/{order_id}/stream", C.ORDER_READ, "event", _paid_order,
               other_credential=_BUYER_TOKEN, stream=True),
    Privileged("POST", "/api/v1/orders/{order_id}/refunds", C.ORDER_REFUND, "event", _refund),
    Privileged("GET", "/api/v1/events/{event_id}/orders", C.ORDER_READ, "event", _event_call),
    Privileged("GET", "/api/v1/events/{event_id}/orders.csv", C.ORDER_EXPORT, "event",
               _event_call),
    Privileged("GET", "/api/v1/events/{event_id}/inventory/drift", C.ORDER_READ, "event",
               _event_call),
    Privileged("POST", "/support/v1/addons", C.TIER_MANAGE, "event", _addon_body),
    Privileged("PATCH", "/support/v1/addons/{addon_id}", C.TIER_MANAGE, "event", _addon),
    # check-in
    Privileged("GET", "/api/v1/events/{event_id}/checkpoints", C.CHECKIN_SCAN, "event",
               _event_call),
    Privileged("POST", "/api/v1/events/{event_id}/checkpoints", C.CHECKIN_MANAGE, "event",
               lambda ctx: _event_call(ctx, {"name": f"Gate {UserId.new()[-6:]}"})),
    Privileged("PATCH", "/api/v1/checkpoints/{checkpoint_id}", C.CHECKIN_MANAGE, "event",
               lambda ctx: Call({"checkpoint_id": _checkpoint(ctx).id}, json={"name": "VIP"})),
    Privileged("POST", "/api/v1/events/{event_id}/checkins", C.CHECKIN_SCAN, "event", _scan),
    Privileged("POST", "/api/v1/events/{event_id}/checkins/sync", C.CHECKIN_SCAN, "event",
               _sync),
    Privileged("POST", "/api/v1/events/{event_id}/checkins/{check_in_id}/undo",
               C.CHECKIN_MANAGE, "event", _check_in),
    Privileged("GET", "/api/v1/events/{event_id}/checkins/offline-bundle", C.CHECKIN_SCAN,
               "event", _event_call),
    Privileged("GET", "/api/v1/events/{event_id}/checkins/stats", C.EVENT_READ, "event",
               _event_call),
    Privileged("GET", "/api/v1/events/{event_id}/checkins/stats/stream", C.EVENT_READ,
               "event", _event_call, stream=True),
    Privileged("GET", "/api/v1/events/{event_id}/checkins/door-list", C.CHECKIN_SCAN, "event",
               _event_call),
    Privileged("GET", "/api/v1/events/{event_id}/checkins/scans", C.CHECKIN_SCAN, "event",
               _event_call),
]  # fmt: skip


# --- moderation ------------------------------------------------------------------------------

SIGNED_IN.update(
    {
        ("POST", "/support/v1/moderation/image"): "any signed-in client checks an image",
        ("POST", "/support/v1/moderation/text"): "any signed-in client checks a text",
    }
)


def _blocklist_upload(ctx: Ctx) -> Call:
    from tests.factories import image_bytes

    # A repeat of the same image answers 200 (already blocked): still 2xx for each principal.
    return Call(files={"file": ("bad.jpg", image_bytes(size=(96, 64)), "image/jpeg")})


PRIVILEGED.append(
    Privileged("POST", "/api/v1/moderation/blocklist", C.DP_MODERATE, "platform", _blocklist_upload)
)
# --- DP campaigns (dp) ----------------------------------------------------------------------


def _dp_campaign(ctx: Ctx, status: str = "draft", template: bool = False) -> Any:
    from admitone.core.ids import DpCampaignId
    from admitone.dp.models import DpCampaign

    cid = DpCampaignId.new()
    campaign = DpCampaign(id=cid, organization_id=ctx.w.org.id, event_id=ctx.w.event.id,
                          title="DP", slug=f"dp-{cid[-10:].lower()}", status=status)  # fmt: skip
    ctx.s.add(campaign)
    ctx.s.flush()
    if template:
        _dp_template(ctx, cid)
    return campaign


def _dp_template(ctx: Ctx, campaign_id: str) -> Any:
    import hashlib

    from admitone.core.files import File
    from admitone.core.ids import DpTemplateId, FileId
    from admitone.dp.models import DpTemplate
    from admitone.integrations.storage import storage_for
    from tests.dp.conftest import frame_png
    from tests.dp.render.images import layout_dict

    data, fid = frame_png(), FileId.new()
    key = f"dp/frames/{campaign_id}/{fid}.png"
    storage_for(ctx.w.settings).put(key, data, "image/png")
    ctx.s.add(File(id=fid, storage_key=key, content_type="image/png", size_bytes=len(data),
                   sha256=hashlib.sha256(data).hexdigest()))  # fmt: skip
    ctx.s.flush()
    template = DpTemplate(id=DpTemplateId.new(), campaign_id=campaign_id, name="T",
                          frame_file_id=fid, layout=layout_dict())  # fmt: skip
    ctx.s.add(template)
    ctx.s.flush()
    return template


def _dp_campaign_call(ctx: Ctx, **kw: Any) -> Call:
    return Call({"campaign_id": _dp_campaign(ctx, **kw).id})


def _dp_template_call(ctx: Ctx, json: Any = None) -> Call:
    campaign = _dp_campaign(ctx)
    return Call({"template_id": _dp_template(ctx, campaign.id).id}, json=json)


def _dp_template_upload(ctx: Ctx) -> Call:
    import json

    from tests.dp.conftest import frame_png
    from tests.dp.render.images import layout_dict

    return Call({"campaign_id": _dp_campaign(ctx).id},
                files={"file": ("frame.png", frame_png(), "image/png"),
                       "layout": (None, json.dumps(layout_dict()))})  # fmt: skip


PUBLIC.update(
    {
        ("GET", "/api/v1/public/dp-campaigns/{slug}"): "anyone opens a campaign's page",
        ("GET", "/api/v1/public/dp-campaigns/{slug}/gallery"): "a campaign's public gallery",
        ("GET", "/api/v1/public/dp-hub"): "the public list of campaigns",
        ("GET", "/api/v1/public/dp-templates/{template_id}/preview"): "a public template's preview",
        ("GET", "/api/v1/public/dps/{dp_id}/image"): "a visible DP's picture (its share page)",
        ("POST", "/api/v1/dp-campaigns/{campaign_id}/generate"): "anyone makes a DP; "
        "verified_only campaigns check the caller's pass (pass_required)",
        ("GET", "/api/v1/dps/{dp_id}"): "its owner, signed in or by X-DP-Token (else 401)",
        ("GET", "/api/v1/dps/{dp_id}/image"): "its owner, signed in or by X-DP-Token (else 401)",
        ("DELETE", "/api/v1/dps/{dp_id}"): "its owner, signed in or by X-DP-Token (else 401)",
    }
)
SIGNED_IN[("GET", "/api/v1/me/dps")] = "the caller's own DPs"

PRIVILEGED += [
    Privileged("POST", "/api/v1/events/{event_id}/dp-campaigns", C.DP_MANAGE, "event",
               lambda ctx: Call({"event_id": ctx.w.event.id}, json={"title": "Going"})),
    Privileged("GET", "/api/v1/events/{event_id}/dp-campaigns", C.DP_MANAGE, "event",
               lambda ctx: Call({"event_id": ctx.w.event.id})),
    Privileged("GET", "/api/v1/dp-campaigns/{campaign_id}", C.DP_MANAGE, "event",
               _dp_campaign_call),
    Privileged("PATCH", "/api/v1/dp-campaigns/{campaign_id}", C.DP_MANAGE, "event",
               lambda ctx: Call(_dp_campaign_call(ctx).path, json={"title": "New"})),
    Privileged("POST", "/api/v1/dp-campaigns/{campaign_id}/publish", C.DP_MANAGE, "event",
               lambda ctx: _dp_campaign_call(ctx, template=True)),
    Privileged("POST", "/api/v1/dp-campaigns/{campaign_id}/close", C.DP_MANAGE, "event",
               _dp_campaign_call),
    Privileged("GET", "/api/v1/dp-campaigns/{campaign_id}/stats", C.DP_MANAGE, "event",
               _dp_campaign_call),
    Privileged("POST", "/api/v1/dp-campaigns/{campaign_id}/templates", C.DP_MANAGE, "event",
               _dp_template_upload),
    Privileged("GET", "/api/v1/dp-templates/{template_id}", C.DP_MANAGE, "event",
               _dp_template_call),
    Privileged("PATCH", "/api/v1/dp-templates/{template_id}", C.DP_MANAGE, "event",
               lambda ctx: _dp_template_call(ctx, json={"name": "Renamed"})),
    Privileged("DELETE", "/api/v1/dp-templates/{template_id}", C.DP_MANAGE, "event",
               _dp_template_call),
    Privileged("GET", "/api/v1/dp-templates/{template_id}/preview", C.DP_MANAGE, "event",
               _dp_template_call),
]  # fmt: skip


# --- DP moderation (dp/moderation_routes.py) -------------------------------------------------


def _dp(ctx: Ctx) -> Any:
    """A visible DP in the review queue, with a stored picture and a photo hash."""
    import hashlib
    import secrets

    from admitone.core.clock import utcnow
    from admitone.core.files import File
    from admitone.core.ids import FileId, GeneratedDpId
    from admitone.dp.models import DpStatus, GeneratedDp, Verdict
    from admitone.integrations.storage import storage_for
    from tests.factories import image_bytes

    campaign = _dp_campaign(ctx, status="published")
    template = _dp_template(ctx, campaign.id)
    data, fid, dp_id = image_bytes(size=(64, 64)), FileId.new(), GeneratedDpId.new()
    key = f"dp/outputs/{campaign.id}/{dp_id}.jpg"
    storage_for(ctx.w.settings).put(key, data, "image/jpeg")
    ctx.s.add(File(id=fid, storage_key=key, content_type="image/jpeg", size_bytes=len(data),
                   sha256=hashlib.sha256(data).hexdigest()))  # fmt: skip
    ctx.s.flush()
    dp = GeneratedDp(id=dp_id, campaign_id=campaign.id, template_id=template.id,
                     supporter_key="t:x", texts={}, output_file_id=fid, width=64, height=64,
                     share_code=secrets.token_hex(5), status=DpStatus.VISIBLE,
                     moderation_verdict=Verdict.ALLOW, moderation_reasons=[],
                     photo_hash=secrets.randbits(63), review_requested_at=utcnow())  # fmt: skip
    ctx.s.add(dp)
    ctx.s.flush()
    return dp


def _dp_call(ctx: Ctx) -> Call:
    return Call({"dp_id": _dp(ctx).id}, json={"reason": "checked"})


PUBLIC[("POST", "/api/v1/public/dps/{dp_id}/report")] = (
    "anyone reports a public DP (rate-limited per address and per user)"
)
PRIVILEGED += [
    Privileged("GET", "/api/v1/moderation/queue", C.DP_MODERATE, "organization",
               lambda ctx: Call(query={"organization_id": ctx.w.org.id})),
    Privileged("POST", "/api/v1/moderation/dps/{dp_id}/approve", C.DP_MODERATE, "organization",
               _dp_call),
    Privileged("POST", "/api/v1/moderation/dps/{dp_id}/reject", C.DP_MODERATE, "organization",
               _dp_call),
    Privileged("POST", "/api/v1/moderation/dps/{dp_id}/takedown", C.DP_MODERATE, "organization",
               _dp_call),
    Privileged("GET", "/api/v1/moderation/dps/{dp_id}/image", C.DP_MODERATE, "organization",
               lambda ctx: Call({"dp_id": _dp(ctx).id})),
    # The block-list is platform-wide: platform moderators only, not organizations' admins.
    Privileged("POST", "/api/v1/moderation/dps/{dp_id}/block-photo", C.DP_MODERATE, "platform",
               _dp_call),
]  # fmt: skip


# --- DP batches (dp) ----------------------------------------------------------------------


def _dp_batch_upload(ctx: Ctx) -> Call:
    from tests.dp.batch_helpers import csv_bytes, photos_zip

    campaign = _dp_campaign(ctx)
    template = _dp_template(ctx, campaign.id)
    return Call({"campaign_id": campaign.id},
                files={"csv": ("people.csv", csv_bytes("Ada,Guest,ada.jpg"), "text/csv"),
                       "photos": ("photos.zip", photos_zip("ada.jpg"), "application/zip"),
                       "template_id": (None, template.id)})  # fmt: skip


def _dp_batch_call(ctx: Ctx, status: str = "running") -> Call:
    from admitone.core.ids import DpBatchId
    from admitone.dp.models import DpBatch

    campaign = _dp_campaign(ctx)
    template = _dp_template(ctx, campaign.id)
    batch = DpBatch(id=DpBatchId.new(), organization_id=ctx.w.org.id, campaign_id=campaign.id,
                    template_id=template.id, created_by_user_id=make_user(ctx.s).id,
                    status=status, total=0)  # fmt: skip
    ctx.s.add(batch)
    ctx.s.flush()
    return Call({"batch_id": batch.id})


PRIVILEGED += [
    Privileged("POST", "/api/v1/dp-campaigns/{campaign_id}/batches", C.DP_MANAGE, "event",
               _dp_batch_upload),
    Privileged("GET", "/api/v1/dp-campaigns/{campaign_id}/batches", C.DP_MANAGE, "event",
               _dp_campaign_call),
    Privileged("GET", "/api/v1/dp-batches/{batch_id}", C.DP_MANAGE, "event", _dp_batch_call),
    Privileged("GET", "/api/v1/dp-batches/{batch_id}/stream", C.DP_MANAGE, "event",
               _dp_batch_call, stream=True),
    Privileged("POST", "/api/v1/dp-batches/{batch_id}/cancel", C.DP_MANAGE, "event",
               _dp_batch_call),
    Privileged("GET", "/api/v1/dp-batches/{batch_id}/download", C.DP_MANAGE, "event",
               lambda ctx: _dp_batch_call(ctx, "completed")),
]  # fmt: skip


# --- releases ----------------------------------------------------------------------------

PUBLIC[("GET", "/api/v1/public/releases")] = "anyone reads the published release notes"


def _release(ctx: Ctx) -> Any:
    from admitone.core.clock import utcnow
    from admitone.core.ids import ReleaseId
    from admitone.releases.models import DeploymentStatus, Release

    now = utcnow()
    rid = ReleaseId.new()
    release = Release(id=rid, deployment_id=f"dep-{rid[-12:]}", status=DeploymentStatus.SUCCESS,
                      status_at=now, first_seen_at=now, live_at=now - timedelta(minutes=1),
                      is_published=False)  # fmt: skip
    ctx.s.add(release)
    ctx.s.flush()
    return release


PRIVILEGED += [
    Privileged("GET", "/api/v1/releases", C.RELEASE_MANAGE, "platform", lambda ctx: Call()),
    Privileged(
        "GET",
        "/api/v1/releases/{release_id}",
        C.RELEASE_MANAGE,
        "platform",
        lambda ctx: Call(path={"release_id": _release(ctx).id}),
    ),
    Privileged(
        "PATCH",
        "/api/v1/releases/{release_id}",
        C.RELEASE_MANAGE,
        "platform",
        lambda ctx: Call(path={"release_id": _release(ctx).id}, json={"notes": "Faster door"}),
    ),
    Privileged(
        "GET",
        "/api/v1/releases/at",
        C.RELEASE_MANAGE,
        "platform",
        lambda ctx: (_release(ctx), Call(query={"time": "2099-01-01T00:00:00+00:00"}))[1],
    ),
]
# --- pass documents, wallet, transfer, badges (appended by the wallet work) --------------


def _order_with_pass(ctx: Ctx) -> Call:
    return Call({"order_id": make_pass(ctx.s, ctx.w.event, ctx.w.tier).order_id})


def _transfer(ctx: Ctx) -> Call:
    p = make_pass(ctx.s, ctx.w.event, ctx.w.tier)
    return Call({"pass_id": p.id}, json={"email": "friend@example.com", "name": "Friend"})


def _badge_run(ctx: Ctx) -> Call:
    from admitone.core.ids import BadgeRunId
    from admitone.passes.delivery.models import BadgeRun

    run = BadgeRun(id=BadgeRunId.new(), event_id=ctx.w.event.id, status="queued")
    ctx.s.add(run)
    ctx.s.flush()
    return Call({"run_id": run.id})


def _no_file_yet(principal: str) -> Outcome:
    """The run exists but has no file: whoever may read it gets 404 after the check."""
    caps = expected_capabilities(principal, "event")
    return "forbidden" if caps and C.EVENT_READ not in caps else "not_found"


_APPLE = "Apple Wallet devices, by the pass's `ApplePass <authenticationToken>`"
_WS = "/support/v1/wallet/apple/v1"
_REG = _WS + "/devices/{device_id}/registrations/{pass_type_id}"
PUBLIC.update(
    {
        ("POST", _REG + "/{serial}"): _APPLE,
        ("DELETE", _REG + "/{serial}"): _APPLE,
        ("GET", _REG): "Apple Wallet devices: serial numbers of their own registrations",
        ("GET", _WS + "/passes/{pass_type_id}/{serial}"): _APPLE,
        ("POST", _WS + "/log"): "Apple Wallet devices report errors",
    }
)

PRIVILEGED += [
    Privileged("GET", "/api/v1/passes/{pass_id}/ticket.pdf", C.ORDER_READ, "event", _event_pass,
               other_credential=_BUYER_TOKEN),
    Privileged("GET", "/api/v1/orders/{order_id}/tickets.pdf", C.ORDER_READ, "event",
               _order_with_pass, other_credential=_BUYER_TOKEN),
    Privileged("GET", "/support/v1/passes/{pass_id}/wallet.pkpass", C.ORDER_READ, "event",
               _event_pass, other_credential=_BUYER_TOKEN),
    Privileged("GET", "/support/v1/passes/{pass_id}/wallet/google", C.ORDER_READ, "event",
               _event_pass, other_credential=_BUYER_TOKEN),
    Privileged("POST", "/api/v1/passes/{pass_id}/transfer", C.ORDER_MANAGE, "event", _transfer),
    Privileged("GET", "/support/v1/passes/{pass_id}/badge.pdf", C.CHECKIN_SCAN, "event",
               _event_pass),
    Privileged("POST", "/support/v1/events/{event_id}/badges", C.CHECKIN_MANAGE, "event",
               lambda ctx: _event_call(ctx, json={})),
    Privileged("GET", "/support/v1/badge-runs/{run_id}", C.EVENT_READ, "event", _badge_run),
    Privileged("GET", "/support/v1/badge-runs/{run_id}/badges.pdf", C.EVENT_READ, "event",
               _badge_run, expect=_no_file_yet),
    Privileged("GET", "/support/v1/events/{event_id}/pass-settings", C.EVENT_READ, "event",
               _event_call),
    Privileged("PUT", "/support/v1/events/{event_id}/pass-settings", C.EVENT_UPDATE, "event",
               lambda ctx: _event_call(ctx, json={"transfer_cutoff_minutes": 60})),
    Privileged("PUT", "/support/v1/events/{event_id}/tiers/{tier_id}/transfer-cutoff",
               C.EVENT_UPDATE, "event",
               lambda ctx: Call({"event_id": ctx.w.event.id, "tier_id": ctx.w.tier.id},
                                json={"transfer_cutoff_minutes": 120})),
]  # fmt: skip


# --- notifications and outgoing webhooks ---------------------------------------------------

SIGNED_IN.update(
    {
        ("GET", "/api/v1/me/notifications"): "the caller's inbox",
        ("GET", "/api/v1/me/notifications/unread-count"): "the caller's inbox",
        ("GET", "/api/v1/me/notifications/stream"): "the caller's inbox, live",
        ("POST", "/api/v1/me/notifications/read-all"): "the caller's inbox",
        ("POST", "/api/v1/me/notifications/{notification_id}/read"): "the caller's notification",
        ("GET", "/api/v1/me/notification-preferences"): "the caller's preferences",
        ("PUT", "/api/v1/me/notification-preferences"): "the caller's preferences",
    }
)


def _webhook_endpoint(ctx: Ctx) -> Any:
    from admitone.core.ids import WebhookEndpointId
    from admitone.webhooks import signing
    from admitone.webhooks.models import WebhookEndpoint

    endpoint = WebhookEndpoint(
        id=WebhookEndpointId.new(),
        organization_id=ctx.w.org.id,
        url="http://127.0.0.1:9/hooks",
        events=["*"],
        status="enabled",
        secret_sealed=signing.seal(ctx.w.settings, signing.new_secret()),
    )
    ctx.s.add(endpoint)
    ctx.s.flush()
    return endpoint


def _endpoint_call(ctx: Ctx, json: Any = None) -> Call:
    return Call({"endpoint_id": _webhook_endpoint(ctx).id}, json=json)


def _webhook_delivery(ctx: Ctx) -> Call:
    from ulid import ULID

    from admitone.core.ids import WebhookDeliveryId
    from admitone.webhooks.models import WebhookDelivery, WebhookMessage

    endpoint = _webhook_endpoint(ctx)
    message = WebhookMessage(
        id=f"msg_{ULID()}", organization_id=ctx.w.org.id, type="order.paid", payload={}
    )
    ctx.s.add(message)
    ctx.s.flush()
    delivery = WebhookDelivery(
        id=WebhookDeliveryId.new(),
        endpoint_id=endpoint.id,
        message_id=message.id,
        status="succeeded",
    )
    ctx.s.add(delivery)
    ctx.s.flush()
    return Call({"delivery_id": delivery.id})


PRIVILEGED += [
    Privileged("POST", "/api/v1/organizations/{organization_id}/webhooks", C.WEBHOOK_MANAGE,
               "organization",
               lambda ctx: Call(_org(ctx).path,
                                json={"url": "http://127.0.0.1:9/hooks", "events": ["*"]})),
    Privileged("GET", "/api/v1/organizations/{organization_id}/webhooks", C.WEBHOOK_MANAGE,
               "organization", _org),
    Privileged("GET", "/api/v1/webhooks/{endpoint_id}", C.WEBHOOK_MANAGE, "organization",
               _endpoint_call),
    Privileged("PATCH", "/api/v1/webhooks/{endpoint_id}", C.WEBHOOK_MANAGE, "organization",
               lambda ctx: _endpoint_call(ctx, {"events": ["order.paid"]})),
    Privileged("DELETE", "/api/v1/webhooks/{endpoint_id}", C.WEBHOOK_MANAGE, "organization",
               _endpoint_call),
    Privileged("POST", "/api/v1/webhooks/{endpoint_id}/rotate-secret", C.WEBHOOK_MANAGE,
               "organization", _endpoint_call),
    Privileged("GET", "/api/v1/webhooks/{endpoint_id}/deliveries", C.WEBHOOK_MANAGE,
               "organization", _endpoint_call),
    Privileged("POST", "/api/v1/webhooks/{endpoint_id}/replay", C.WEBHOOK_MANAGE,
               "organization",
               lambda ctx: _endpoint_call(ctx, {"since": "2026-01-01T00:00:00Z"})),
    Privileged("POST", "/api/v1/webhook-deliveries/{delivery_id}/replay", C.WEBHOOK_MANAGE,
               "organization", _webhook_delivery),
]  # fmt: skip

PUBLIC[("POST", "/api/v1/public/orders/resend")] = "a buyer asks for a code by e-mail"
PUBLIC[("POST", "/api/v1/public/orders/resend/verify")] = "the e-mailed code is the credential"
PRIVILEGED += [
    Privileged("GET", "/api/v1/orders/{order_id}/emails", C.ORDER_READ, "event", _paid_order),
]  # fmt: skip
