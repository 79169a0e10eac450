"""A template's layout (DESIGN §11): the output size and format, the photo slot and the text
slots, validated on save so that rendering never meets a slot it cannot draw.

Every refusal is 422 `invalid_layout` with `field` naming the field (`photo.width`,
`texts[1].color`); unknown fields are refused too, so a typo does not pass silently.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from admitone.dp.render.errors import InvalidLayout
from admitone.dp.render.fonts import DEFAULT_FONT, FONT_KEYS

MIN_SIDE = 64
MAX_SIDE = 2048  # a 2048x2048 DP is 12 MiB decoded as RGB: the bound on a render's memory
MIN_SLOT = 16
MIN_TEXT_BOX = 8
MIN_FONT_SIZE = 6  # texts shrink down to this before they are cut with an ellipsis
MAX_FONT_SIZE = 512
MAX_TEXTS = 8
MAX_LAYOUT_BYTES = 16_384

_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_KEY = r"^[a-z][a-z0-9_]{0,31}$"

Side = Annotated[int, Field(ge=MIN_SIDE, le=MAX_SIDE)]
Coordinate = Annotated[int, Field(ge=0, le=MAX_SIDE)]
FontKey = Literal["sans", "sans-bold", "serif", "serif-bold"]
assert set(FONT_KEYS) == {"sans", "sans-bold", "serif", "serif-bold"}
assert DEFAULT_FONT == "sans"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PhotoSlot(_Strict):
    x: Coordinate
    y: Coordinate
    width: Annotated[int, Field(ge=MIN_SLOT, le=MAX_SIDE)]
    height: Annotated[int, Field(ge=MIN_SLOT, le=MAX_SIDE)]
    shape: Literal["rect", "rounded", "circle"] = "rect"
    # Corner radius of a `rounded` slot; default: a tenth of the shorter side.
    radius: Annotated[int, Field(ge=0, le=MAX_SIDE // 2)] | None = None

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def corner_radius(self) -> int:
        limit = min(self.width, self.height) // 2
        return min(limit, self.radius if self.radius is not None else min(self.size) // 10)


class TextSlot(_Strict):
    key: Annotated[str, Field(pattern=_KEY)]
    x: Coordinate
    y: Coordinate
    width: Annotated[int, Field(ge=MIN_TEXT_BOX, le=MAX_SIDE)]
    height: Annotated[int, Field(ge=MIN_TEXT_BOX, le=MAX_SIDE)]
    font: FontKey = "sans"
    size: Annotated[int, Field(ge=MIN_FONT_SIZE, le=MAX_FONT_SIZE)]
    color: str = "#ffffff"
    align: Literal["left", "center", "right"] = "center"
    uppercase: bool = False
    required: bool = False

    @field_validator("color")
    @classmethod
    def _color(cls, value: str) -> str:
        if not _COLOR.match(value):
            raise ValueError("expected a colour as #rgb, #rrggbb or #rrggbbaa")
        return value

    @property
    def rgba(self) -> tuple[int, int, int, int]:
        digits = self.color[1:]
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        if len(digits) == 6:
            digits += "ff"
        r, g, b, a = (int(digits[i : i + 2], 16) for i in range(0, 8, 2))
        return (r, g, b, a)


class Layout(_Strict):
    width: Side
    height: Side
    format: Literal["jpeg", "png"] = "jpeg"
    photo: PhotoSlot
    texts: Annotated[list[TextSlot], Field(max_length=MAX_TEXTS)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _inside(self) -> Layout:
        # InvalidLayout is not a ValueError: it leaves Pydantic as it is, its field named.
        _inside_canvas(self, "photo", self.photo.x, self.photo.y, self.photo.width,
                       self.photo.height)  # fmt: skip
        seen: set[str] = set()
        for i, text in enumerate(self.texts):
            where = f"texts[{i}]"
            _inside_canvas(self, where, text.x, text.y, text.width, text.height)
            if text.key in seen:
                raise InvalidLayout(
                    f"{where}.key: the key '{text.key}' is used twice.", field=f"{where}.key"
                )
            seen.add(text.key)
        return self

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def text(self, key: str) -> TextSlot | None:
        return next((t for t in self.texts if t.key == key), None)


def _inside_canvas(layout: Layout, where: str, x: int, y: int, width: int, height: int) -> None:
    if x + width > layout.width:
        field = f"{where}.x" if x >= layout.width else f"{where}.width"
        raise InvalidLayout(
            f"{field}: x + width ({x + width}) is beyond the layout's width ({layout.width}).",
            field=field,
        )
    if y + height > layout.height:
        field = f"{where}.y" if y >= layout.height else f"{where}.height"
        raise InvalidLayout(
            f"{field}: y + height ({y + height}) is beyond the layout's height ({layout.height}).",
            field=field,
        )


def parse_layout(data: object) -> Layout:
    """A `Layout` from JSON text (str or bytes, as a multipart field brings it) or from
    already-parsed data; else 422 `invalid_layout` naming the field."""
    try:
        if isinstance(data, str | bytes | bytearray):
            if len(data) > MAX_LAYOUT_BYTES:
                raise InvalidLayout(
                    f"The layout is larger than {MAX_LAYOUT_BYTES} bytes.", field="layout"
                )
            try:
                data = json.loads(data)
            except (ValueError, UnicodeDecodeError) as exc:
                raise InvalidLayout(f"The layout is not JSON: {exc}.", field="layout") from exc
        return Layout.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = _field_name(error["loc"]) or "layout"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise InvalidLayout(f"{field}: {message}.", field=field) from None


def _field_name(loc: tuple[int | str, ...]) -> str:
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif part.startswith(("function-", "literal[", "int", "str")):
            continue  # Pydantic's own labels for union branches, not fields
        else:
            name += f".{part}" if name else part
    return name
