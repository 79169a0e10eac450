"""Who may do what, written out here independently of `access/capabilities.py`: the role
matrix test reads its expectations from that table, so a wrong grant there (marketing
refunding orders) would pass it. This spec is the second key."""

from __future__ import annotations

import pytest

from admitone.access.capabilities import PLATFORM_ROLES, TEAM_ROLES, Capability

# The team roles that hold each sensitive capability (DESIGN §7), and no others.
TEAM_HOLDERS: dict[str, set[str]] = {
    "order.refund": {"owner", "admin", "finance"},
    "order.export": {"owner", "admin", "finance"},
    "order.manage": {"owner", "admin", "manager", "finance"},
    "audit.read": {"owner", "admin", "finance"},
    "team.manage": {"owner", "admin"},
    "team.owners.manage": {"owner"},
    "org.update": {"owner", "admin"},
    "event.create": {"owner", "admin", "manager"},
    "event.publish": {"owner", "admin", "manager"},
    "tier.manage": {"owner", "admin", "manager"},
    "checkin.manage": {"owner", "admin", "manager"},
    "checkin.scan": {"owner", "admin", "manager", "door_staff"},
    "dp.manage": {"owner", "admin", "manager", "marketing"},
    # Their own campaigns' DPs; the platform-wide block-list needs a platform role.
    "dp.moderate": {"owner", "admin"},
}
PLATFORM_HOLDERS: dict[str, set[str]] = {
    "order.refund": {"superadmin", "finance"},
    "dp.moderate": {"superadmin", "moderator"},
    "release.manage": {"superadmin", "release_manager"},
    "platform.roles.manage": {"superadmin"},
    "workspace.manage": {"superadmin"},
}


@pytest.mark.parametrize("capability", sorted(TEAM_HOLDERS))
def test_exactly_these_team_roles_hold_it(capability: str) -> None:
    holders = {role for role, caps in TEAM_ROLES.items() if Capability(capability) in caps}
    assert holders == TEAM_HOLDERS[capability]


@pytest.mark.parametrize("capability", sorted(PLATFORM_HOLDERS))
def test_exactly_these_platform_roles_hold_it(capability: str) -> None:
    holders = {role for role, caps in PLATFORM_ROLES.items() if Capability(capability) in caps}
    assert holders == PLATFORM_HOLDERS[capability]


def test_door_staff_and_viewers_change_nothing_but_the_door() -> None:
    assert {c.value for c in TEAM_ROLES["door_staff"]} == {"checkin.scan", "event.read", "org.read"}
    assert {c.value for c in TEAM_ROLES["viewer"]} == {
        "event.read",
        "order.read",
        "org.read",
        "team.read",
    }
