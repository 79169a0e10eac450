"""Payment providers, webhooks and reconciliation."""
