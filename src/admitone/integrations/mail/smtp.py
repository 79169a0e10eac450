"""SMTP delivery with aiosmtplib (STARTTLS and login when configured)."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import aiosmtplib

from admitone.integrations.mail.base import MailError, Message, Sent
from admitone.settings import MailSettings


def to_mime(message: Message) -> EmailMessage:
    mime = EmailMessage()
    mime["From"] = message.sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Message-ID"] = message.message_id
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    return mime


class SmtpTransport:
    name = "smtp"
    stores_bodies = False

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings

    def send(self, message: Message) -> Sent:
        s = self.settings
        try:
            # The job runs in a worker thread with no event loop of its own.
            asyncio.run(self._deliver(to_mime(message)))
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailError(f"SMTP delivery to {s.smtp_host}:{s.smtp_port} failed: {exc}") from exc
        return Sent(provider_message_id=message.message_id)

    async def _deliver(self, mime: EmailMessage) -> None:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls,
            timeout=s.timeout_seconds,
        )
        await client.connect()
        try:
            await client.send_message(mime)
        finally:
            # Once DATA is answered the message is the server's. No QUIT: waiting for its
            # answer adds nothing to the delivery and, on a slow or silent server, held the
            # send unrecorded for up to `timeout_seconds`; a worker killed then re-sent an
            # accepted message (tests/faults/test_worker_killed.py).
            client.close()
