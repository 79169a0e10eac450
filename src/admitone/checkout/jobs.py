"""Checkout's part in the job runtime: the ticket e-mails' attachments and buttons,
registered with the send job here because every worker and app loads the `jobs` modules."""

from __future__ import annotations

from admitone.checkout import mail

mail.register()
