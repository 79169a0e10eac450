from __future__ import annotations

from admitone.core.errors import Invalid


class TextTooLong(Invalid):
    code = "text_too_long"
    message = "The text is too long to check."
