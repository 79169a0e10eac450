"""Checkout's part in the job runtime: the ticket e-mails' attachments and buttons, and the
order's rendering for its webhook events, registered here because every worker and app
loads the `jobs` modules."""

from __future__ import annotations

from admitone.checkout import mail
from admitone.checkout.views import full_view
from admitone.orders.service import announce

mail.register()
# The order in its webhook events is the order as the API shows it (payment, refunds).
announce.render_orders_with(full_view)
