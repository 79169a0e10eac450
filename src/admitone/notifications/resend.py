"""Self-service "resend my tickets": a buyer proves they read the address's mail with a
one-time code, then the confirmations of that address's paid orders are sent again.

Asking always answers 202 (nobody learns whether an address bought anything); a code is
6 digits, 10 minutes, 5 attempts, stored as an HMAC; at most 3 codes per address per
15 minutes (429 with Retry-After).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from admitone.core.clock import utcnow
from admitone.core.ids import OrderId, ResendCodeId
from admitone.emails.service import queue_email, seal
from admitone.notifications.errors import InvalidResendCode, ResendRateLimited
from admitone.notifications.models import ResendCode
from admitone.orders import service as orders
from admitone.orders.models import Order
from admitone.settings import Settings

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
WINDOW = timedelta(minutes=15)
MAX_CODES = 3
MAX_ORDERS = 20
PAID = ("paid", "partially_refunded")


def _hash(settings: Settings, email: str, code: str) -> str:
    return hmac.new(settings.secret, f"resend:{email}:{code}".encode(), hashlib.sha256).hexdigest()


def _paid_orders(session: Session, email: str) -> list[str]:
    return list(
        session.scalars(
            select(Order.id)
            .where(func.lower(Order.buyer_email) == email, Order.status.in_(PAID))
            .order_by(Order.created_at.desc())
            .limit(MAX_ORDERS)
        )
    )


def request_code(session: Session, settings: Settings, email: str) -> None:
    email = email.strip().lower()
    now = utcnow()
    recent = session.scalar(
        select(func.count())
        .select_from(ResendCode)
        .where(ResendCode.email == email, ResendCode.created_at > now - WINDOW)
    )
    if (recent or 0) >= MAX_CODES:
        raise ResendRateLimited(retry_after=int(WINDOW.total_seconds()))
    code = f"{secrets.randbelow(10**6):06d}"
    session.add(
        ResendCode(
            id=ResendCodeId.new(),
            email=email,
            code_hash=_hash(settings, email, code),
            attempts=0,
            expires_at=now + CODE_TTL,
        )
    )
    if _paid_orders(session, email):
        queue_email(
            session,
            to=email,
            template="resend_code",
            context={"sealed": seal(settings, {"code": code})},
        )


@dataclass(frozen=True)
class Verified:
    ok: bool
    resent: int = 0


def verify_code(session: Session, settings: Settings, email: str, code: str) -> Verified:
    """Counts the attempt (kept even when the code is wrong: the caller commits and then
    raises with `require_verified`)."""
    email = email.strip().lower()
    now = utcnow()
    found = session.scalar(
        select(ResendCode)
        .where(ResendCode.email == email, ResendCode.used_at.is_(None), ResendCode.expires_at > now)
        .order_by(ResendCode.created_at.desc())
        .limit(1)
    )
    if found is None:
        return Verified(False)
    counted = session.execute(
        update(ResendCode)
        .where(ResendCode.id == found.id, ResendCode.attempts < MAX_ATTEMPTS)
        .values(attempts=ResendCode.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if not getattr(counted, "rowcount", 0):
        return Verified(False)
    if not hmac.compare_digest(found.code_hash, _hash(settings, email, code)):
        return Verified(False)
    used = session.execute(
        update(ResendCode)
        .where(ResendCode.id == found.id, ResendCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(used, "rowcount", 0):
        return Verified(False)
    order_ids = _paid_orders(session, email)
    for order_id in order_ids:
        _queue_confirmation(session, settings, order_id, found.id)
    return Verified(True, len(order_ids))


def require_verified(result: Verified) -> int:
    if not result.ok:
        raise InvalidResendCode()
    return result.resent


def _queue_confirmation(session: Session, settings: Settings, order_id: str, code_id: str) -> None:
    """The order confirmation again (the orders domain's own message), once per code."""
    details = orders.order_details(session, OrderId(order_id))
    orders.queue_confirmation(session, settings, details, unique_key=f"resend:{code_id}:{order_id}")
