"""Who may do what, written out here independently of `access/capabilities.py`: the role
matrix test reads its expectations from that table, so a wrong grant there (marketing
refunding orders) would pass it. This spec is the second key."""

from __future__ import annotations

import pytest

from admitone.access.capabilities import (
    EVENT_SCOPED,
    LIMITED_ROLE_KEEPS,
    PLATFORM_ROLES,
    TEAM_ROLES,
    WORKSPACE_ROLES,
    Capability,
)

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


# --- the whole table, written out: every grant of every role ------------------------------
# mutmut mutates function bodies, and `access/capabilities.py` is data; its mutants are
# the table's single grants and revocations, and each must fail a test. The spec above
# names the holders of the sensitive capabilities; this one is every role's full set.

# dp.moderate: owners and admins moderate their own campaigns' DPs (the platform-wide
# block-list is checked apart, for platform roles only).
_PLATFORM_ONLY = {"platform.roles.manage", "release.manage", "workspace.manage"}
_EVERY = {c.value for c in Capability}
FULL_SPEC: dict[str, dict[str, set[str]]] = {
    "team": {
        "owner": _EVERY - _PLATFORM_ONLY - {"workspace.read", "org.create"},
        "admin": _EVERY - _PLATFORM_ONLY - {"workspace.read", "org.create", "team.owners.manage"},
        "manager": {
            "org.read", "team.read", "event.create", "event.read", "event.update",
            "event.publish", "tier.manage", "order.read", "order.manage", "checkin.scan",
            "checkin.manage", "dp.manage",
        },
        "finance": {
            "org.read", "event.read", "order.read", "order.manage", "order.refund",
            "order.export", "audit.read",
        },
        "marketing": {"org.read", "event.read", "event.update", "dp.manage", "order.read"},
        "door_staff": {"org.read", "event.read", "checkin.scan"},
        "viewer": {"org.read", "event.read", "order.read", "team.read"},
    },
    "workspace": {
        "owner": _EVERY - {"platform.roles.manage", "release.manage"},
        "admin": _EVERY - {"platform.roles.manage", "release.manage"},
        "member": {"workspace.read", "org.read", "event.read"},
    },
    "platform": {
        "superadmin": set(_EVERY),
        "support": {
            "workspace.read", "org.read", "team.read", "audit.read", "event.read", "order.read",
        },
        "moderator": {"org.read", "event.read", "dp.moderate"},
        "finance": {
            "org.read", "event.read", "order.read", "order.refund", "order.export", "audit.read",
        },
        "release_manager": {"release.manage"},
    },
    # What a role limited to some events keeps: never organization-wide powers.
    "event_scoped": {
        "keeps": {
            "event.read", "event.update", "event.publish", "tier.manage", "order.read",
            "order.manage", "order.refund", "order.export", "checkin.scan", "checkin.manage",
            "dp.manage",
        },
    },
}  # fmt: skip


def _tables() -> dict[str, dict[str, set[str]]]:
    return {
        "team": {r: {c.value for c in cs} for r, cs in TEAM_ROLES.items()},
        "workspace": {r: {c.value for c in cs} for r, cs in WORKSPACE_ROLES.items()},
        "platform": {r: {c.value for c in cs} for r, cs in PLATFORM_ROLES.items()},
        "event_scoped": {"keeps": {c.value for c in EVENT_SCOPED}},
    }


def _violations(tables: dict[str, dict[str, set[str]]]) -> list[str]:
    found = [
        f"{table} {role}: +{sorted(caps - FULL_SPEC[table].get(role, set()))} "
        f"-{sorted(FULL_SPEC[table].get(role, set()) - caps)}"
        for table, roles in tables.items()
        for role, caps in roles.items()
        if caps != FULL_SPEC[table].get(role)
    ]
    found += [
        f"{table} {role}: missing"
        for table, roles in FULL_SPEC.items()
        for role in roles
        if role not in tables[table]
    ]
    # The sensitive holders above, checked on the same tables (the two specs agree).
    for cap, holders in TEAM_HOLDERS.items():
        got = {r for r, caps in tables["team"].items() if cap in caps}
        if got != holders:
            found.append(f"team holders of {cap}: {sorted(got)}")
    for cap, holders in PLATFORM_HOLDERS.items():
        got = {r for r, caps in tables["platform"].items() if cap in caps}
        if got != holders:
            found.append(f"platform holders of {cap}: {sorted(got)}")
    return found


def test_every_role_holds_exactly_its_written_out_set() -> None:
    assert _violations(_tables()) == []
    keeps = FULL_SPEC["event_scoped"]["keeps"] | {"org.read"}
    assert {c.value for c in LIMITED_ROLE_KEEPS} == keeps


def test_every_single_grant_or_revocation_in_the_table_fails_the_spec() -> None:
    """The table's mutants, all of them: one capability added to or taken from one role."""
    tables = _tables()
    mutants = survived = 0
    for table, roles in tables.items():
        for role, caps in roles.items():
            for cap in sorted(_EVERY):
                mutant = {t: {r: set(c) for r, c in rs.items()} for t, rs in tables.items()}
                mutant[table][role] = caps ^ {cap}
                mutants += 1
                survived += not _violations(mutant)
    assert mutants == 16 * len(_EVERY)
    assert survived == 0
