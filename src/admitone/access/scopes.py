"""Where `access` reads scopes and memberships: columns the owning domains register.

`access` sits below `orgs` and `events` (their services call `guard`), yet a capability is
resolved from their tables: an organization's workspace, the caller's workspace and team
memberships, an event's organization and whether its public page shows. Rather than
import those models (a lower domain importing a higher one), access declares here which
columns it needs, and the domains that own them hand them over when their models load
(`register_organizations` at the end of `orgs/models.py`, `register_events` at the end of
`events/models.py`; `domains.load_models()` loads every model before the app serves). The
statements are still built once, in `access/service.py`, from these columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy.orm import QueryableAttribute

Column = QueryableAttribute[Any]


@dataclass(frozen=True)
class OrganizationColumns:
    """orgs' tables: `organizations` (id, workspace_id), `workspace_members` and
    `team_members` (who holds which role; a team role may be limited to some event ids)."""

    organization_id: Column
    organization_workspace_id: Column
    workspace_member_workspace_id: Column
    workspace_member_user_id: Column
    workspace_member_role: Column
    team_member_organization_id: Column
    team_member_user_id: Column
    team_member_role: Column
    team_member_event_ids: Column


@dataclass(frozen=True)
class EventColumns:
    """events' table: an event's id and organization, and the conditions under which its
    public page shows (then anyone may know it exists)."""

    event_id: Column
    event_organization_id: Column
    public_page: tuple[ColumnElement[bool], ...]


@dataclass
class _Registry:
    organizations: OrganizationColumns | None = None
    events: EventColumns | None = None
    on_change: list[Callable[[], None]] = field(default_factory=list)


_registry = _Registry()
T = TypeVar("T")


def register_organizations(columns: OrganizationColumns) -> None:
    _registry.organizations = columns
    _changed()


def register_events(columns: EventColumns) -> None:
    _registry.events = columns
    _changed()


def on_registration(rebuild: Callable[[], None]) -> None:
    """`rebuild` runs after every registration (access drops statements it cached)."""
    _registry.on_change.append(rebuild)


def _changed() -> None:
    for rebuild in _registry.on_change:
        rebuild()


def _required(found: T | None, owner: str) -> T:
    if found is None:
        raise RuntimeError(
            f"access needs {owner}' columns: call admitone.domains.load_models() first"
        )
    return found


def organizations() -> OrganizationColumns:
    return _required(_registry.organizations, "orgs")


def events() -> EventColumns:
    return _required(_registry.events, "events")
