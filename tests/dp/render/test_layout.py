"""Layouts are validated on save: each bad one is 422 `invalid_layout` naming its field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from admitone.dp.render import InvalidLayout, Layout, parse_layout
from tests.dp.render.images import layout_dict

Mutation = Callable[[dict[str, Any]], None]


def _text(layout: dict[str, Any], index: int = 0) -> dict[str, Any]:
    text: dict[str, Any] = layout["texts"][index]
    return text


BAD: list[tuple[str, Mutation, str]] = [
    ("photo beyond the right edge", lambda d: d["photo"].update(x=300), "photo.width"),
    ("photo starting outside", lambda d: d["photo"].update(y=400), "photo.y"),
    ("text box below the canvas", lambda d: _text(d).update(height=200), "texts[0].height"),
    ("text box right of the canvas", lambda d: _text(d, 1).update(x=500), "texts[1].x"),
    ("negative coordinate", lambda d: d["photo"].update(x=-1), "photo.x"),
    ("unknown font", lambda d: _text(d).update(font="comic-sans"), "texts[0].font"),
    ("font size too large", lambda d: _text(d).update(size=513), "texts[0].size"),
    ("font size too small", lambda d: _text(d).update(size=2), "texts[0].size"),
    ("font size not an integer", lambda d: _text(d).update(size=12.5), "texts[0].size"),
    ("colour by name", lambda d: _text(d).update(color="white"), "texts[0].color"),
    ("colour of five digits", lambda d: _text(d).update(color="#12345"), "texts[0].color"),
    ("duplicate keys", lambda d: _text(d, 1).update(key="name"), "texts[1].key"),
    ("key with capitals", lambda d: _text(d).update(key="Name"), "texts[0].key"),
    ("output too wide", lambda d: d.update(width=4096), "width"),
    ("output too small", lambda d: d.update(height=10), "height"),
    ("output format gif", lambda d: d.update(format="gif"), "format"),
    ("unknown shape", lambda d: d["photo"].update(shape="star"), "photo.shape"),
    ("photo slot too small", lambda d: d["photo"].update(width=4), "photo.width"),
    ("alignment", lambda d: _text(d).update(align="justify"), "texts[0].align"),
    ("a typo'd field", lambda d: _text(d).update(colour="#fff"), "texts[0].colour"),
    ("no photo slot", lambda d: d.pop("photo"), "photo"),
    ("too many texts", lambda d: d.update(texts=[_text(d)] * 9), "texts"),
    ("required as a string", lambda d: _text(d).update(required="yes"), "texts[0].required"),
]


@pytest.mark.parametrize(("what", "mutate", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_layout_names_its_field(what: str, mutate: Mutation, field: str) -> None:
    data = copy.deepcopy(layout_dict())
    mutate(data)
    with pytest.raises(InvalidLayout) as refused:
        parse_layout(json.dumps(data))
    error = refused.value
    assert (error.status, error.code, error.field) == (422, "invalid_layout", field), what
    assert error.problem()["field"] == field
    assert field in error.detail


@pytest.mark.parametrize("text", ["{", "[]", "null", '"layout"', b"\xff\xfe"])
def test_what_is_not_a_json_object_is_refused_as_the_layout(text: str | bytes) -> None:
    with pytest.raises(InvalidLayout) as refused:
        parse_layout(text)
    assert refused.value.field == "layout"


def test_a_huge_layout_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidLayout) as refused:
        parse_layout('{"width": 400' + " " * 20_000 + "}")
    assert refused.value.field == "layout"


def test_good_layout_from_text_bytes_or_data() -> None:
    data = layout_dict()
    data["texts"][1].update(font="serif-bold", color="#11223380", align="right", uppercase=True)
    data["photo"].update(shape="rounded", radius=30)
    parsed = [parse_layout(json.dumps(data)), parse_layout(json.dumps(data).encode()),
              parse_layout(data)]  # fmt: skip
    assert parsed[0] == parsed[1] == parsed[2]
    layout = parsed[0]
    assert isinstance(layout, Layout)
    assert layout.size == (400, 400)
    assert layout.photo.corner_radius == 30
    name, title = layout.texts
    assert (name.font, name.align, name.uppercase, name.required) == ("sans", "center", False, True)
    assert title.rgba == (0x11, 0x22, 0x33, 0x80)
    assert layout.text("title") is title
    assert layout.text("nope") is None
    assert parse_layout({**data, "texts": []}).texts == []


def test_short_colour_and_default_radius() -> None:
    data = layout_dict()
    data["texts"][0]["color"] = "#f0a"
    data["photo"].update(shape="rounded", width=200, height=100)
    layout = parse_layout(data)
    assert layout.texts[0].rgba == (255, 0, 170, 255)
    assert layout.photo.corner_radius == 10  # a tenth of the shorter side
