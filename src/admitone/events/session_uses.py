"""What else points at an agenda session: rows of the domains above events.

Deleting a session refuses while something uses it (a tier limited to it, a check-in
checkpoint for it): it would silently change meaning. Tiers are events' own table; the
domains above events that point at sessions register their table's columns here when their
models load (`checkins/models.py` registers checkpoints), so events never imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import QueryableAttribute


@dataclass(frozen=True)
class SessionUse:
    """Rows that point at a session: `key` names their ids in the `session_in_use` problem
    (`checkpoint_ids`); `event_id` scopes the delete's condition to the event's index."""

    key: str
    id: QueryableAttribute[Any]
    event_id: QueryableAttribute[Any]
    session_id: QueryableAttribute[Any]


_USES: dict[str, SessionUse] = {}


def register_session_use(use: SessionUse) -> None:
    _USES[use.key] = use


def session_uses() -> list[SessionUse]:
    return sorted(_USES.values(), key=lambda u: u.key)
