"""The dev mailbox transport: nothing leaves the machine. The delivery log keeps the
rendered message and `GET /dev/mailbox` reads it back."""

from __future__ import annotations

from admitone.integrations.mail.base import Message, Sent


class DevboxTransport:
    name = "devbox"
    stores_bodies = True

    def send(self, message: Message) -> Sent:
        return Sent(provider_message_id=message.message_id)
