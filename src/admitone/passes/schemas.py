"""API shapes of passes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from admitone.core.ids import EventId, OrderId, PassId, TicketTierId
from admitone.passes.models import PassStatus


class PassOut(BaseModel):
    id: PassId
    code: str
    qr: str
    tier_id: TicketTierId
    attendee_name: str | None
    status: PassStatus
    event_id: EventId
    order_id: OrderId
    attendee_email: str | None
    created_at: datetime
    revoked_at: datetime | None
