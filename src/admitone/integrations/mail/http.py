"""An HTTP mail provider (Postmark/Resend-style JSON API).

`POST {http_url}` with `Authorization: Bearer <token>`, an `Idempotency-Key` (the
Message-ID, stable across retries of one send job) and the body
`{"from", "to", "subject", "text", "html", "headers", "attachments"}` (each attachment
`{"filename", "content_type", "content"}`, the content base64-encoded); a 2xx answer with
an optional `id` (or `MessageID`) is success, anything else is retried.
"""

from __future__ import annotations

import base64

import httpx

from admitone.integrations.mail.base import MailError, Message, Sent
from admitone.settings import MailSettings


class HttpTransport:
    name = "http"
    stores_bodies = False

    def __init__(self, settings: MailSettings) -> None:
        if not settings.http_url:
            raise MailError("ADMITONE_MAIL__HTTP_URL is not set")
        self.settings = settings

    def send(self, message: Message) -> Sent:
        s = self.settings
        assert s.http_url is not None
        headers = {"Idempotency-Key": message.message_id}
        if s.http_token is not None:
            headers["Authorization"] = f"Bearer {s.http_token.get_secret_value()}"
        body = {
            "from": message.sender,
            "to": message.to,
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
            "headers": {"Message-ID": message.message_id, **message.headers},
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "content": base64.b64encode(a.data).decode(),
                }
                for a in message.attachments
            ],
        }
        try:
            resp = httpx.post(s.http_url, json=body, headers=headers, timeout=s.timeout_seconds)
        except httpx.HTTPError as exc:
            raise MailError(f"mail provider unreachable: {exc}") from exc
        if resp.status_code // 100 != 2:
            raise MailError(f"mail provider answered {resp.status_code}: {resp.text[:300]}")
        try:
            data = resp.json()
        except ValueError:
            data = {}
        provider_id = data.get("id") or data.get("MessageID") if isinstance(data, dict) else None
        return Sent(provider_message_id=str(provider_id) if provider_id else None)
