"""Ways a webhook request is refused."""

from __future__ import annotations

from admitone.core.errors import Invalid, NotFound


class EndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"
    message = "No such webhook endpoint."


class DeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    message = "No such webhook delivery."


class InvalidWebhookUrl(Invalid):
    code = "invalid_webhook_url"
    message = "The URL must be an http(s) URL whose host resolves to a public address."


class UnknownEventType(Invalid):
    code = "unknown_event_type"
    message = "No such event type."


class EndpointDisabled(Invalid):
    code = "webhook_endpoint_disabled"
    message = "The endpoint is disabled; enable it before replaying."
