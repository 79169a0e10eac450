"""Event rules: creating and editing events, their lifecycle, agenda sessions and ticket tiers.

Lifecycle: `draft -> published -> ended`, and `draft | published -> cancelled`. Publishing
needs a tier; cancelling schedules `orders.cancel_event` so the orders domain refunds and
cancels (events never imports orders); the `events.end_past` cron ends published events
whose end has passed. Cancelled and ended events are read-only.

Stock lives on `ticket_tiers` (`held_count`, `sold_count`) and is changed only by the
orders domain's conditional updates; this module changes `capacity` with a conditional
update of its own so it can never drop below what is held or sold.

Cover images (`covers.py`): the route cleans and stores the upload outside transactions,
`set_cover` records it; a released file's blob is deleted by the `events.delete_blob` job
after the commit.

Helpers for other domains (documented in docs/events.md): `event_for_sale`,
`tiers_for_sale`, `tier_session_ids`, `hash_access_code`.
"""

from __future__ import annotations

from admitone.events.service.agenda import (
    add_session,
    delete_session,
    list_sessions,
    update_session,
)
from admitone.events.service.buyers import (
    event_for_sale,
    public_event,
    public_events,
    tiers_for_sale,
)
from admitone.events.service.covers import (
    DELETE_BLOB_JOB,
    check_cover_change,
    cover_key,
    event_cover,
    prepare_cover,
    public_cover,
    remove_cover,
    set_cover,
)
from admitone.events.service.lifecycle import (
    cancel_event,
    create_event,
    end_past_events,
    get_event,
    list_events,
    publish_event,
    update_event,
)
from admitone.events.service.rules import (
    CANCEL_EVENT_JOB,
    hash_access_code,
    slugify,
    validate_currency,
    validate_timezone,
)
from admitone.events.service.tiers import (
    TierView,
    add_tier,
    list_tiers,
    tier_session_ids,
    update_tier,
)

__all__ = [
    "CANCEL_EVENT_JOB",
    "DELETE_BLOB_JOB",
    "TierView",
    "add_session",
    "add_tier",
    "cancel_event",
    "check_cover_change",
    "cover_key",
    "create_event",
    "delete_session",
    "end_past_events",
    "event_cover",
    "event_for_sale",
    "get_event",
    "hash_access_code",
    "list_events",
    "list_sessions",
    "list_tiers",
    "prepare_cover",
    "public_cover",
    "public_event",
    "public_events",
    "publish_event",
    "remove_cover",
    "set_cover",
    "slugify",
    "tier_session_ids",
    "tiers_for_sale",
    "update_event",
    "update_session",
    "update_tier",
    "validate_currency",
    "validate_timezone",
]
