"""Release history fed by deployment webhooks."""
