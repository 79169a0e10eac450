"""Wallet state: device registrations (Apple's pass web service), change tags, and the
scheduling of pushes and Google updates when a pass, its event or its tier changes.

A pass's change time is the latest `updated_at` of the pass, its event and its tier, so an
event moved, a venue changed, an attendee renamed, a pass revoked (refund) or transferred
are all seen without those domains knowing about wallets: the `wallet.sync` cron compares
it with what was last scheduled (`wallet_passes.synced_at`) and schedules one
`wallet.push_pass_update` and one `wallet.google_update` per change (unique per change, so
a transfer that schedules them at once is not pushed twice).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from admitone.core import jobs
from admitone.core.clock import utcnow
from admitone.core.ids import WalletRegistrationId
from admitone.events.models import Event, TicketTier
from admitone.passes.errors import PassNotFound
from admitone.passes.models import Pass
from admitone.passes.wallet.content import authentication_token
from admitone.passes.wallet.errors import (
    InvalidUpdateTag,
    UnknownPassType,
    WalletUnauthorized,
)
from admitone.passes.wallet.models import WalletPass, WalletRegistration
from admitone.settings import Settings

PUSH_JOB = "wallet.push_pass_update"
GOOGLE_JOB = "wallet.google_update"
APPLE_AUTH = "ApplePass "


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def tag_of(t: datetime) -> str:
    """Apple's `lastUpdated` tag: a string (an integer there silently stops updates)."""
    return str(int(_aware(t).timestamp() * 1_000_000))


def parse_tag(tag: str | None) -> datetime | None:
    if tag is None or tag == "":
        return None
    if not tag.isdigit() or len(tag) > 20:
        raise InvalidUpdateTag()
    return datetime.fromtimestamp(int(tag) / 1_000_000, tz=UTC)


def _changed_at() -> tuple[Any, Any, Any]:
    return (Pass.updated_at, Event.updated_at, TicketTier.updated_at)


def changed_at(session: Session, pass_id: str) -> datetime:
    """The latest change of the pass, its event or its tier."""
    row = session.execute(
        select(*_changed_at())
        .join(Event, Event.id == Pass.event_id)
        .join(TicketTier, TicketTier.id == Pass.tier_id)
        .where(Pass.id == pass_id)
    ).first()
    if row is None:
        raise PassNotFound()
    return max(_aware(t) for t in row)


def authorized_pass(
    session: Session,
    settings: Settings,
    pass_type_id: str,
    serial: str,
    authorization: str | None,
) -> Pass:
    """The pass a device asks about, when its `ApplePass <token>` matches; 404 for a pass
    type we do not issue, 401 for anything else (a stranger learns nothing)."""
    if pass_type_id != settings.wallet.apple_pass_type_id:
        raise UnknownPassType()
    if not authorization or not authorization.startswith(APPLE_AUTH):
        raise WalletUnauthorized()
    given = authorization[len(APPLE_AUTH) :].strip()
    if not hmac.compare_digest(given, authentication_token(settings, serial)):
        raise WalletUnauthorized()
    found = session.get(Pass, serial)
    if found is None:
        raise WalletUnauthorized()
    return found


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _track(session: Session, pass_id: str, *, google: bool = False) -> None:
    """The pass is in a wallet: from now on its changes are pushed."""
    now = utcnow()
    stmt = (
        _insert(session)(WalletPass)
        .values(
            pass_id=pass_id,
            google_linked=google,
            synced_at=changed_at(session, pass_id),
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["pass_id"])
    )
    session.execute(stmt)
    if google:
        session.execute(
            update(WalletPass)
            .where(WalletPass.pass_id == pass_id, WalletPass.google_linked.is_(False))
            .values(google_linked=True, updated_at=now)
        )


def register_device(session: Session, device_id: str, pass_id: str, push_token: str) -> bool:
    """Records that the device takes pushes for the pass; True when it is new (201), False
    when it was registered already (200; the push token is updated)."""
    now = utcnow()
    existing = session.scalar(
        select(WalletRegistration).where(
            WalletRegistration.device_id == device_id, WalletRegistration.pass_id == pass_id
        )
    )
    _track(session, pass_id)
    if existing is not None:
        if existing.push_token != push_token:
            existing.push_token = push_token
        return False
    # Two devices' first registrations racing: the upsert keeps one row, both answer 201.
    session.execute(
        _insert(session)(WalletRegistration)
        .values(
            id=WalletRegistrationId.new(),
            device_id=device_id,
            pass_id=pass_id,
            push_token=push_token,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=["device_id", "pass_id"], set_={"push_token": push_token}
        )
    )
    return True


def unregister_device(session: Session, device_id: str, pass_id: str) -> None:
    session.execute(
        delete(WalletRegistration).where(
            WalletRegistration.device_id == device_id, WalletRegistration.pass_id == pass_id
        )
    )


def serials_updated_since(
    session: Session, settings: Settings, pass_type_id: str, device_id: str, tag: str | None
) -> tuple[list[str], str | None]:
    """The serial numbers of the device's passes changed after `tag` (all without one),
    and the tag to send next time; ([], None) when the device has no passes."""
    if pass_type_id != settings.wallet.apple_pass_type_id:
        raise UnknownPassType()
    since = parse_tag(tag)
    rows = session.execute(
        select(Pass.id, *_changed_at())
        .join(WalletRegistration, WalletRegistration.pass_id == Pass.id)
        .join(Event, Event.id == Pass.event_id)
        .join(TicketTier, TicketTier.id == Pass.tier_id)
        .where(WalletRegistration.device_id == device_id)
        .order_by(Pass.id)
    ).all()
    if not rows:
        return [], None
    changed: dict[str, datetime] = {
        str(row[0]): max(_aware(cast(datetime, t)) for t in row[1:]) for row in rows
    }
    serials = [pid for pid, at in changed.items() if since is None or at > since]
    return serials, tag_of(max(changed.values()))


def link_google(session: Session, pass_id: str) -> None:
    _track(session, pass_id, google=True)


def push_tokens(session: Session, pass_id: str) -> list[str]:
    return list(
        session.scalars(
            select(WalletRegistration.push_token)
            .where(WalletRegistration.pass_id == pass_id)
            .order_by(WalletRegistration.id)
        )
    )


def drop_push_tokens(session: Session, pass_id: str, tokens: list[str]) -> None:
    """APNs said these tokens are gone: their registrations go too."""
    if tokens:
        session.execute(
            delete(WalletRegistration).where(
                WalletRegistration.pass_id == pass_id, WalletRegistration.push_token.in_(tokens)
            )
        )


def is_google_linked(session: Session, pass_id: str) -> bool:
    return bool(
        session.scalar(select(WalletPass.google_linked).where(WalletPass.pass_id == pass_id))
    )


def schedule_updates(session: Session, pass_id: str) -> bool:
    """Schedules the pushes for the pass's latest change, once per change; False when
    nothing is in a wallet or the change was scheduled already."""
    state = session.get(WalletPass, pass_id)
    if state is None:
        return False
    at = changed_at(session, pass_id)
    done = session.execute(  # type: ignore[attr-defined]
        update(WalletPass)
        .where(WalletPass.pass_id == pass_id, WalletPass.synced_at < at)
        .values(synced_at=at, updated_at=utcnow())
    ).rowcount
    if not done:
        return False
    key = f"{pass_id}:{tag_of(at)}"
    if push_tokens(session, pass_id):
        jobs.schedule(session, PUSH_JOB, {"pass_id": pass_id}, unique_key=f"{PUSH_JOB}:{key}")
    if state.google_linked:
        jobs.schedule(session, GOOGLE_JOB, {"pass_id": pass_id}, unique_key=f"{GOOGLE_JOB}:{key}")
    return True


def passes_due_for_sync(session: Session, *, limit: int = 500) -> list[str]:
    """Passes in a wallet whose pass, event or tier changed after their last push."""
    synced = WalletPass.synced_at
    return list(
        session.scalars(
            select(WalletPass.pass_id)
            .join(Pass, Pass.id == WalletPass.pass_id)
            .join(Event, Event.id == Pass.event_id)
            .join(TicketTier, TicketTier.id == Pass.tier_id)
            .where(
                or_(
                    Pass.updated_at > synced,
                    Event.updated_at > synced,
                    TicketTier.updated_at > synced,
                )
            )
            .order_by(WalletPass.pass_id)
            .limit(limit)
        )
    )
