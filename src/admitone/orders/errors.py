"""Every way an order, a refund or an add-on can be refused, each with a stable code."""

from admitone.core.errors import Conflict, Forbidden, Invalid, NotFound


class OrderNotFound(NotFound):
    code = "order_not_found"
    message = "No such order."


class EventNotFound(NotFound):
    code = "event_not_found"
    message = "No such event."


class TierNotFound(NotFound):
    code = "tier_not_found"
    message = "No such ticket tier for this event."


class AddonNotFound(NotFound):
    code = "addon_not_found"
    message = "No such add-on for this event."


class EventNotOnSale(Conflict):
    code = "event_not_on_sale"
    message = "This event is not selling tickets."


class SalesClosed(Conflict):
    code = "sales_closed"
    message = "Sales for this ticket tier are closed."


class SalesPaused(Conflict):
    code = "sales_paused"
    message = "Sales for this ticket tier are paused."


class TierSoldOut(Conflict):
    code = "tier_sold_out"
    message = "Not enough tickets left in this tier."


class AddonSoldOut(Conflict):
    code = "addon_sold_out"
    message = "Not enough of this add-on left."


class LimitExceeded(Invalid):
    code = "limit_exceeded"
    message = "The quantity is outside the limits for this tier."


class InvalidAccessCode(Forbidden):
    code = "invalid_access_code"
    message = "The access code does not unlock this tier."


class EmptyOrder(Invalid):
    code = "empty_order"
    message = "An order needs at least one ticket."


class MixedCurrencies(Invalid):
    code = "mixed_currencies"
    message = "Every line of an order must be in the same currency."


class AttendeesMismatch(Invalid):
    code = "attendees_mismatch"
    message = "Give one attendee per ticket, in the order of the items, or none."


class BuyerEmailRequired(Invalid):
    code = "buyer_email_required"
    message = "Give `buyer.email`, or sign in, to place an order."


class OrderExpired(Conflict):
    code = "order_expired"
    message = "This order's reservation has expired."


class OrderNotCancellable(Conflict):
    code = "order_not_cancellable"
    message = "Only a pending order can be cancelled; refund a paid one."


class OrderNotRefundable(Conflict):
    code = "order_not_refundable"
    message = "This order has nothing left to refund."


class RefundExceedsQuantity(Invalid):
    code = "refund_exceeds_quantity"
    message = "You cannot refund more than was bought and not yet refunded."


class UnknownOrderItem(Invalid):
    code = "unknown_order_item"
    message = "An item does not belong to this order."


class InvalidOrderToken(NotFound):
    """Anonymous callers without the order's token may not learn that it exists."""

    code = "order_not_found"
    message = "No such order."


class CapacityBelowSold(Conflict):
    code = "capacity_below_sold"
    message = "Capacity cannot go below the units already held or sold."
