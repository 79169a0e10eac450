"""Helpers shared by access and orgs tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.core.ids import UserId
from admitone.core.jobs import Job
from admitone.emails.service import unseal
from admitone.orgs import invitations
from admitone.orgs.models import Invitation
from admitone.settings import Settings
from tests.access.world import World


def make_invitation(session: Session, world: World, **kwargs: Any) -> Invitation:
    """A pending invitation through the real use case (its e-mail job is queued too)."""
    values: dict[str, Any] = {
        "inviter_id": world.users["team:owner"].id,
        "email": f"{UserId.new().lower()}@invitee.example",
        "role": "viewer",
        "settings": world.settings,
        **kwargs,
    }
    if "organization_id" not in values and "workspace_id" not in values:
        values["organization_id"] = world.org.id
    return invitations.invite(session, **values)


def queued_emails(session: Session, to: str | None = None) -> list[dict[str, Any]]:
    """The `emails.send` jobs queued so far (newest last), optionally for one address."""
    rows = session.scalars(
        select(Job).where(Job.name == "emails.send").order_by(Job.created_at, Job.id)
    )
    found = [job.args for job in rows]
    return [a for a in found if to is None or a["to"] == to]


def invitation_context(session: Session, settings: Settings, to: str) -> dict[str, Any]:
    """The (unsealed) template context of the newest invitation e-mail to `to`."""
    return unseal(settings, queued_emails(session, to)[-1]["context"])


def invitation_token(session: Session, settings: Settings, to: str) -> str:
    """The token carried by the newest invitation e-mail to `to`."""
    link = invitation_context(session, settings, to)["accept_url"]
    return str(link).rsplit("/", 1)[-1]
