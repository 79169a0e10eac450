"""Every way a payment, a webhook or a refund can be refused, each with a stable code."""

from admitone.core.errors import Conflict, Forbidden, Invalid, NotFound


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    message = "No such payment."


class PaymentAmountMismatch(Invalid):
    """Recorded and not applied: the provider says another amount or currency was paid."""

    code = "payment_amount_mismatch"
    message = "The amount or currency paid does not match the order."


class UnknownPaymentReference(NotFound):
    code = "unknown_payment_reference"
    message = "No payment has this reference."


class PaymentNotPending(Conflict):
    code = "payment_not_pending"
    message = "This payment is no longer waiting for the buyer."


class DevProviderDisabled(Forbidden):
    code = "dev_provider_disabled"
    message = "The dev payment pages exist only when ADMITONE_ENV=dev."
