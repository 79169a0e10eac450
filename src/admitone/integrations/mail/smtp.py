"""SMTP delivery with aiosmtplib (STARTTLS and login when configured)."""

from __future__ import annotations

import asyncio
import email.policy
from email.message import EmailMessage
from email.utils import parseaddr

import aiosmtplib

from admitone.integrations.mail.base import MailError, Message, Sent
from admitone.settings import MailSettings

# RFC 5322's line limit instead of the 78-character default: a header holding one long token
# (a List-Unsubscribe URL with its signed token) then stays as written, where the default
# policy rewrites it as an RFC 2047 encoded word that mail clients cannot use as a URL.
POLICY = email.policy.default.clone(max_line_length=998)


def to_mime(message: Message) -> EmailMessage:
    mime = EmailMessage(policy=POLICY)
    mime["From"] = message.sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Message-ID"] = message.message_id
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    for a in message.attachments:
        maintype, _, subtype = a.content_type.partition("/")
        mime.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
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
            asyncio.run(self._deliver(message))
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailError(f"SMTP delivery to {s.smtp_host}:{s.smtp_port} failed: {exc}") from exc
        return Sent(provider_message_id=message.message_id)

    async def _deliver(self, message: Message) -> None:
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
            await client.sendmail(
                parseaddr(message.sender)[1],
                [message.to],
                # Flattened here with POLICY: aiosmtplib's own flattening would use the
                # 78-character SMTP policy (it broke List-Unsubscribe URLs).
                to_mime(message).as_bytes(policy=POLICY.clone(linesep="\r\n")),
            )
        finally:
            # Once DATA is answered the message is the server's. No QUIT: waiting for its
            # answer adds nothing to the delivery and, on a slow or silent server, held the
            # send unrecorded for up to `timeout_seconds`; a worker killed then re-sent an
            # accepted message (tests/faults/test_worker_killed.py).
            client.close()
