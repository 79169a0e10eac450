"""The notification kinds: who gets them, their words, and which channels they use.

A kind is *transactional* when it is about something the person bought or must act on
(a paid order, a cancelled event): its e-mail copy cannot be switched off and carries no
unsubscribe link. The others carry RFC 8058 one-click unsubscribe for that kind only.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class NotificationKind(StrEnum):
    ORDER_PAID = "order_paid"
    ORDER_PLACED = "order_placed"
    ORDER_REFUNDED = "order_refunded"
    INVITATION = "invitation"
    PASS_TRANSFERRED = "pass_transferred"
    EVENT_CHANGED = "event_changed"
    EVENT_CANCELLED = "event_cancelled"
    EVENT_REMINDER = "event_reminder"
    DP_APPROVED = "dp_approved"
    DP_TAKEN_DOWN = "dp_taken_down"
    DEPLOYMENT_FAILED = "deployment_failed"
    WEBHOOK_DISABLED = "webhook_disabled"


class Channel(StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"


@dataclass(frozen=True)
class KindSpec:
    title: str
    body: str
    email: bool  # an e-mail copy by default
    transactional: bool = False
    in_app: bool = True


K = NotificationKind
CATALOG: dict[NotificationKind, KindSpec] = {
    # The order confirmation e-mail is already the buyer's receipt: in-app only.
    K.ORDER_PAID: KindSpec("Your order for {event_title} is paid", "Order {order_id}.", False),
    K.ORDER_PLACED: KindSpec(
        "New order for {event_title}", "Order {order_id} by {buyer_name}: {total}.", False
    ),
    K.ORDER_REFUNDED: KindSpec(
        "Order refunded for {event_title}", "Order {order_id}: {amount} refunded.", False
    ),
    # The invitation e-mail itself comes from orgs; this is the inbox copy.
    K.INVITATION: KindSpec("You are invited to {organization_name}", "Role: {role}.", False),
    K.PASS_TRANSFERRED: KindSpec(
        "A pass for {event_title} was transferred",
        "Pass {pass_id} now belongs to {to_name}.",
        False,
    ),
    K.EVENT_CHANGED: KindSpec("{event_title} has changed", "{summary}", True),
    K.EVENT_CANCELLED: KindSpec("{event_title} is cancelled", "{reason}", True, transactional=True),
    K.EVENT_REMINDER: KindSpec("{event_title} starts tomorrow", "It starts at {starts_at}.", True),
    K.DP_APPROVED: KindSpec("Your picture for {campaign_title} is approved", "", False),
    K.DP_TAKEN_DOWN: KindSpec(
        "Your picture for {campaign_title} was taken down", "{reason}", False
    ),
    K.DEPLOYMENT_FAILED: KindSpec(
        "Deployment {status}: {service}", "{environment} at {commit}: {message}", True
    ),
    K.WEBHOOK_DISABLED: KindSpec(
        "A webhook endpoint was disabled", "{url} was disabled: {reason}.", True
    ),
}


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


_formatter = string.Formatter()


def _fill(template: str, data: dict[str, Any]) -> str:
    # Only plain `{name}` fields: a value cannot reach attributes or indexes of another.
    out = []
    values = _Lenient(data)
    for literal, field, _spec, _conv in _formatter.parse(template):
        out.append(literal)
        if field:
            out.append(str(values[field]) if field.isidentifier() else "")
    return "".join(out)


def words(kind: NotificationKind, data: dict[str, Any]) -> tuple[str, str | None]:
    spec = CATALOG[kind]
    title = " ".join(_fill(spec.title, data).split())[:200]
    body = _fill(spec.body, data).strip()[:2000]
    return title, body or None
