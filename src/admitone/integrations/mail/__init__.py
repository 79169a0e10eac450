"""Outbound e-mail behind one interface: the dev mailbox, SMTP (aiosmtplib) and an HTTP
provider, chosen by `settings.mail.transport`."""

from __future__ import annotations

from admitone.integrations.mail.base import Attachment, MailError, MailTransport, Message, Sent
from admitone.integrations.mail.devbox import DevboxTransport
from admitone.integrations.mail.http import HttpTransport
from admitone.integrations.mail.smtp import SmtpTransport
from admitone.settings import MailSettings

__all__ = [
    "Attachment",
    "DevboxTransport",
    "HttpTransport",
    "MailError",
    "MailTransport",
    "Message",
    "Sent",
    "SmtpTransport",
    "transport_for",
]


def transport_for(mail: MailSettings) -> MailTransport:
    if mail.transport == "smtp":
        return SmtpTransport(mail)
    if mail.transport == "http":
        return HttpTransport(mail)
    return DevboxTransport()
