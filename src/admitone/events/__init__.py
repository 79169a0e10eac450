"""Events, event sessions and ticket tiers."""
