"""Transferring a pass to another person.

A transfer retires the pass and issues its successor: the old pass is revoked (reason
`transferred`) by a conditional update on its id, code and `valid` status, and a new pass
with a new code (so a new signed QR) is issued in the same order and item for the new
holder. So the old QR scans `revoked` at the door at once online, and offline through the
check-ins bundle's delta (it re-sends passes changed since the scanner's version); two
concurrent transfers of one pass cannot both win (the loser's update matches no row: 409
`pass_not_transferable`).

Who: the holder (the pass's user, or the buyer while the pass has no holder of its own),
or an organizer with `order.manage` on the event. Until when: the event's pass settings
(`transfers_enabled`, `transfer_cutoff_minutes` before the start, or the pass's tier's own
cut-off when it has one; default: open until the event starts). Never after the pass was
used at the door.

The new holder gets an e-mail with the ticket PDF and the Apple Wallet pass attached; the
old pass's wallet copies are pushed (voided) by the `wallet.*` jobs; the order history and
the audit log record `pass.transferred`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.errors import ScopeNotFound
from admitone.access.service import Scope, record_audit, require_capability
from admitone.checkins.models import CheckIn
from admitone.checkout.errors import (
    PassCheckedIn,
    PassNotTransferable,
    TransfersClosed,
    TransferToSameHolder,
)
from admitone.core import outbox
from admitone.core.clock import utcnow
from admitone.core.db import publish
from admitone.core.ids import PassId
from admitone.emails.service import queue_email
from admitone.events.models import Event
from admitone.orders import service as orders
from admitone.orders.service import announce
from admitone.passes import pass_settings
from admitone.passes import service as passes
from admitone.passes.errors import PassNotFound
from admitone.passes.models import Pass
from admitone.passes.service import PassRequest
from admitone.passes.wallet import service as wallet
from admitone.settings import Settings
from admitone.users.models import User

PAID = ("paid", "partially_refunded")
REASON = "transferred"


@dataclass(frozen=True)
class Transferred:
    old: Pass
    new: Pass


def _may_transfer(session: Session, actor_user_id: str, p: Pass, buyer_user_id: str | None) -> None:
    if p.holder_user_id == actor_user_id:
        return
    if p.holder_user_id is None and buyer_user_id == actor_user_id:
        return
    try:
        require_capability(session, actor_user_id, Capability.ORDER_MANAGE, Scope.event(p.event_id))
    except ScopeNotFound as exc:
        raise PassNotFound() from exc


def _check_window(session: Session, event_id: str, tier_id: str) -> Event:
    """The pass's event, while its transfers are open; `TransfersClosed` otherwise."""
    event = session.get(Event, event_id)
    assert event is not None  # the pass's foreign key
    enabled, minutes = pass_settings.transfer_rule(session, event_id, tier_id)
    if not enabled or utcnow() >= event.starts_at - timedelta(minutes=minutes):
        raise TransfersClosed()
    return event


def transfer_pass(
    session: Session,
    *,
    settings: Settings,
    actor_user_id: str,
    pass_id: str,
    email: str,
    name: str,
) -> Transferred:
    """Moves the pass to `email`/`name` (see the module docstring)."""
    p = passes.get_pass(session, PassId(pass_id))
    order = orders.get_order(session, p.order_id)
    _may_transfer(session, actor_user_id, p, order.buyer_user_id)
    if p.status != "valid" or order.status not in PAID:
        raise PassNotTransferable()
    if p.attendee_email and p.attendee_email.lower() == email.lower():
        raise TransferToSameHolder()
    event = _check_window(session, p.event_id, p.tier_id)
    used = session.scalar(
        select(func.count())
        .select_from(CheckIn)
        .where(CheckIn.pass_id == p.id, CheckIn.undone_at.is_(None))
    )
    if used:
        raise PassCheckedIn()

    now = utcnow()
    old_code = p.code
    retired = session.execute(
        update(Pass)
        .where(Pass.id == p.id, Pass.code == old_code, Pass.status == "valid")
        .values(status="revoked", revoked_at=now, revoked_reason=REASON, updated_at=now)
        .returning(Pass.id),
        execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    if retired is None:  # a concurrent transfer or refund got there first
        raise PassNotTransferable()
    session.refresh(p)

    holder = session.scalar(select(User.id).where(func.lower(User.email) == email.lower()))
    [new] = passes.issue_passes(
        session,
        event_id=p.event_id,
        order_id=p.order_id,
        holder_user_id=holder,
        requests=[PassRequest(p.order_item_id, p.tier_id, name, email)],
    )
    publish(session, passes.checkins_topic(p.event_id))
    record_audit(
        session,
        actor_user_id=actor_user_id,
        action="pass.transferred",
        target_type="pass",
        target_id=p.id,
        organization_id=event.organization_id,  # the organization's audit log shows it
        before={"pass_id": p.id, "attendee_email": p.attendee_email},
        after={"pass_id": new.id, "attendee_email": email, "attendee_name": name},
    )
    orders.note(
        session,
        p.order_id,
        "pass_transferred",
        from_pass_id=p.id,
        to_pass_id=new.id,
        to_email=email,
        by_user_id=actor_user_id,
    )
    queue_email(
        session,
        to=email,
        template="pass_transferred",
        context={
            "pass_id": new.id,
            "name": name,
            "event_title": event.title,
            "code": new.code,
        },
        unique_key=f"pass_transferred:{new.id}",
    )
    wallet.schedule_updates(session, p.id)  # the old pass's wallet copies show it void
    _announce(session, settings, p, new, order.buyer_user_id, event.title)
    return Transferred(old=p, new=new)


def _announce(
    session: Session, settings: Settings, old: Pass, new: Pass, buyer: str | None, title: str
) -> None:
    """`pass.transferred` (the new pass, and whom it came from) and both holders told."""
    outbox.emit_event(
        session,
        "pass.transferred",
        announce.organization_of(session, new.event_id),
        lambda: {
            **passes.pass_view(settings, new),
            "previous_holder": {
                "pass_id": old.id,
                "user_id": old.holder_user_id,
                "attendee_name": old.attendee_name,
                "attendee_email": old.attendee_email,
            },
        },
    )
    outbox.notify(
        session,
        "pass_transferred",
        users=[u for u in (old.holder_user_id or buyer, new.holder_user_id) if u],
        emails=[new.attendee_email] if new.attendee_email else [],
        data={"pass_id": new.id, "event_title": title, "to_name": new.attendee_name or ""},
    )
