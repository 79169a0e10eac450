"""Outgoing webhooks for integrators: endpoints, signed events, deliveries, replays."""
