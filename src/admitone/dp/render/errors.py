"""The refusals of DP rendering, each with a stable code (DESIGN §11).

The image-intake ones are `core.images`' own (one meaning, one code across the platform);
they are re-exported here so the DP domain imports every rendering refusal from one place.
"""

from __future__ import annotations

from typing import Any

from admitone.core.errors import Invalid
from admitone.core.images import FileTooLarge, ImageTooLarge, InvalidImage, UnsupportedImageType

__all__ = [
    "FileTooLarge",
    "FrameSizeMismatch",
    "ImageTooLarge",
    "InvalidImage",
    "InvalidLayout",
    "InvalidText",
    "MissingText",
    "UnsupportedImageType",
]


class InvalidLayout(Invalid):
    """422 `invalid_layout`; `field` names the offending field (`texts[1].size`)."""

    code = "invalid_layout"
    message = "The layout is not valid."

    def __init__(self, message: str, *, field: str, **extra: Any) -> None:
        super().__init__(message, field=field, **extra)
        self.field = field


class FrameSizeMismatch(Invalid):
    """The frame's proportions differ from the layout's output size (it would be distorted)."""

    code = "frame_size_mismatch"
    message = "The frame does not have the layout's proportions."


class MissingText(Invalid):
    """A text the layout marks `required` is absent or blank; `key` names it."""

    code = "missing_text"
    message = "A required text is missing."

    def __init__(self, key: str, message: str | None = None) -> None:
        super().__init__(message or f"The text '{key}' is required.", key=key)
        self.key = key


class InvalidText(Invalid):
    """A text value the layout cannot draw: an unknown key, too long, or letters of a script
    that no bundled font covers (drawn, they would be tofu boxes)."""

    code = "invalid_text"
    message = "A text cannot be drawn."

    def __init__(self, key: str, message: str, **extra: Any) -> None:
        super().__init__(message, key=key, **extra)
        self.key = key
