"""Every way an event, a session or a ticket tier can be refused."""

from admitone.core.errors import Conflict, Invalid, NotFound, Unavailable


class EventNotFound(NotFound):
    code = "event_not_found"
    message = "No such event."


class TierNotFound(NotFound):
    code = "tier_not_found"
    message = "No such ticket tier."


class SessionNotFound(NotFound):
    code = "session_not_found"
    message = "No such agenda session."


class InvalidTimezone(Invalid):
    code = "invalid_timezone"
    message = "The timezone is not an IANA timezone name such as `Africa/Lagos`."


class InvalidSchedule(Invalid):
    code = "invalid_schedule"
    message = "An event must end after it starts."


class EventInPast(Invalid):
    code = "event_in_past"
    message = "The event would already be over."


class InvalidCurrency(Invalid):
    code = "invalid_currency"
    message = "The currency is not an ISO 4217 code such as `NGN`."


class CurrencyMismatch(Invalid):
    code = "currency_mismatch"
    message = "Every ticket tier of an event is priced in the event's currency."


class InvalidSalesWindow(Invalid):
    code = "invalid_sales_window"
    message = "Ticket sales must end after they start."


class InvalidOrderLimits(Invalid):
    code = "invalid_order_limits"
    message = "The minimum per order must be at least 1 and at most the maximum."


class AccessCodeRequired(Invalid):
    code = "access_code_required"
    message = "A hidden tier needs an access code for buyers to unlock it."


class UnknownSession(Invalid):
    code = "unknown_session"
    message = "A session id does not belong to this event."


class SessionOutsideEvent(Invalid):
    code = "session_outside_event"
    message = "Sessions must take place between the event's start and end."


class UnknownFile(Invalid):
    code = "unknown_file"
    message = "No such file."


class CoverNotFound(NotFound):
    code = "cover_not_found"
    message = "This event has no cover image."


class StorageUnavailable(Unavailable):
    code = "storage_unavailable"
    message = "The file store is not answering; try again shortly."


class SlugTaken(Conflict):
    code = "slug_taken"
    message = "Another event already uses this slug."


class EventNotEditable(Conflict):
    code = "event_not_editable"
    message = "A cancelled or ended event cannot be changed."


class SessionInUse(Conflict):
    code = "session_in_use"
    message = "Ticket tiers or check-in checkpoints use this session; change them first."


class EventHasNoTiers(Conflict):
    code = "event_has_no_tiers"
    message = "Add at least one ticket tier before publishing."


class CapacityBelowSold(Conflict):
    code = "capacity_below_sold"
    message = "Capacity cannot go below the seats already held or sold."


class EventNotOnSale(Conflict):
    code = "event_not_on_sale"
    message = "This event is not selling tickets."


class SalesClosed(Conflict):
    code = "sales_closed"
    message = "Sales for this ticket tier are closed."


class SalesPaused(Conflict):
    code = "sales_paused"
    message = "Sales for this ticket tier are paused."
