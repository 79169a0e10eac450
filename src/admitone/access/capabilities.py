"""The role -> capability table: the only place that says what a role may do."""

from __future__ import annotations

from enum import StrEnum


class Capability(StrEnum):
    # workspaces and organizations
    WORKSPACE_READ = "workspace.read"
    WORKSPACE_MANAGE = "workspace.manage"
    ORG_CREATE = "org.create"
    ORG_READ = "org.read"
    ORG_UPDATE = "org.update"
    TEAM_READ = "team.read"
    TEAM_MANAGE = "team.manage"
    # Adding, removing, promoting to or demoting from `owner`: more than team.manage.
    TEAM_OWNERS_MANAGE = "team.owners.manage"
    AUDIT_READ = "audit.read"
    # events and tickets
    EVENT_CREATE = "event.create"
    EVENT_READ = "event.read"
    EVENT_UPDATE = "event.update"
    EVENT_PUBLISH = "event.publish"
    TIER_MANAGE = "tier.manage"
    # orders and money
    ORDER_READ = "order.read"
    ORDER_MANAGE = "order.manage"
    ORDER_REFUND = "order.refund"
    ORDER_EXPORT = "order.export"
    # the door
    CHECKIN_SCAN = "checkin.scan"
    CHECKIN_MANAGE = "checkin.manage"
    # campaigns, moderation, platform
    DP_MANAGE = "dp.manage"
    DP_MODERATE = "dp.moderate"
    RELEASE_MANAGE = "release.manage"
    # outgoing webhooks of an organization (team and workspace owners and admins)
    WEBHOOK_MANAGE = "webhook.manage"
    PLATFORM_ROLES_MANAGE = "platform.roles.manage"


C = Capability
ALL = frozenset(Capability)
_ORG_ALL = frozenset(
    c
    for c in Capability
    if c not in {C.WORKSPACE_MANAGE, C.DP_MODERATE, C.RELEASE_MANAGE, C.PLATFORM_ROLES_MANAGE}
)

# Owners and admins moderate their own campaigns' DPs (`dp.moderate` at organization or
# event scope); the platform-wide block-list stays with platform moderators.
_ORG_MODERATE = frozenset({C.DP_MODERATE})

TEAM_ROLES: dict[str, frozenset[Capability]] = {
    "owner": (_ORG_ALL | _ORG_MODERATE) - {C.WORKSPACE_READ, C.ORG_CREATE},
    "admin": (_ORG_ALL | _ORG_MODERATE) - {C.WORKSPACE_READ, C.ORG_CREATE, C.TEAM_OWNERS_MANAGE},
    "manager": frozenset(
        {
            C.ORG_READ,
            C.TEAM_READ,
            C.EVENT_CREATE,
            C.EVENT_READ,
            C.EVENT_UPDATE,
            C.EVENT_PUBLISH,
            C.TIER_MANAGE,
            C.ORDER_READ,
            C.ORDER_MANAGE,
            C.CHECKIN_SCAN,
            C.CHECKIN_MANAGE,
            C.DP_MANAGE,
        }
    ),
    "finance": frozenset(
        {
            C.ORG_READ,
            C.EVENT_READ,
            C.ORDER_READ,
            C.ORDER_MANAGE,
            C.ORDER_REFUND,
            C.ORDER_EXPORT,
            C.AUDIT_READ,
        }
    ),
    "marketing": frozenset({C.ORG_READ, C.EVENT_READ, C.EVENT_UPDATE, C.DP_MANAGE, C.ORDER_READ}),
    "door_staff": frozenset({C.ORG_READ, C.EVENT_READ, C.CHECKIN_SCAN}),
    "viewer": frozenset({C.ORG_READ, C.EVENT_READ, C.ORDER_READ, C.TEAM_READ}),
}

# Workspace roles reach every organization of the workspace.
WORKSPACE_ROLES: dict[str, frozenset[Capability]] = {
    "owner": _ORG_ALL | _ORG_MODERATE | {C.WORKSPACE_MANAGE},
    "admin": _ORG_ALL | _ORG_MODERATE | {C.WORKSPACE_MANAGE},
    "member": frozenset({C.WORKSPACE_READ, C.ORG_READ, C.EVENT_READ}),
}

# Platform roles reach everything on the platform.
PLATFORM_ROLES: dict[str, frozenset[Capability]] = {
    "superadmin": ALL,
    "support": frozenset(
        {C.WORKSPACE_READ, C.ORG_READ, C.TEAM_READ, C.AUDIT_READ, C.EVENT_READ, C.ORDER_READ}
    ),
    "moderator": frozenset({C.ORG_READ, C.EVENT_READ, C.DP_MODERATE}),
    "finance": frozenset(
        {C.ORG_READ, C.EVENT_READ, C.ORDER_READ, C.ORDER_REFUND, C.ORDER_EXPORT, C.AUDIT_READ}
    ),
    "release_manager": frozenset({C.RELEASE_MANAGE}),
}

# What a team role limited to some events keeps (intersected with the role's own set):
# these, on its events only, plus reading the organization it works for. Organization-wide
# powers (team, settings, audit, creating events) need an unlimited role.
EVENT_SCOPED = frozenset(
    {
        C.EVENT_READ,
        C.EVENT_UPDATE,
        C.EVENT_PUBLISH,
        C.TIER_MANAGE,
        C.ORDER_READ,
        C.ORDER_MANAGE,
        C.ORDER_REFUND,
        C.ORDER_EXPORT,
        C.CHECKIN_SCAN,
        C.CHECKIN_MANAGE,
        C.DP_MANAGE,
    }
)
LIMITED_ROLE_KEEPS = EVENT_SCOPED | {C.ORG_READ}
