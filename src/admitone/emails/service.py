"""Queueing e-mail: a mutation schedules the send job; nothing is sent before commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from admitone.core import jobs


def queue_email(session: Session, *, to: str, template: str, context: dict[str, Any],
                unique_key: str | None = None) -> None:
    """Schedules `emails.send` for `template` (a name under emails/templates/) in the
    caller's transaction. `context` must be JSON-serialisable; `unique_key` dedupes."""
    jobs.schedule(session, "emails.send", {"to": to, "template": template, "context": context},
                  unique_key=unique_key)
