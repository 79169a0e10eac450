"""Use cases across orders, payments and passes: place and pay, refund, transfer."""
