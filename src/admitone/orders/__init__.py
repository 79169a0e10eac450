"""Orders, inventory, lifecycle, refunds and add-ons."""
