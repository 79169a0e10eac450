"""Rendering `emails/templates/<name>.{subject,txt,html}.j2` with Jinja2.

The subject and text part are rendered without escaping, the HTML part with autoescape;
an undefined variable is an error rather than a silently empty string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

TEMPLATES = Path(__file__).resolve().parent / "templates"
_NAME = re.compile(r"^[a-z0-9_]{1,100}$")

_text = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=False,  # noqa: S701 - subject and plain text are not HTML
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
_html = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)


class UnknownTemplate(LookupError):
    pass


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


def render(name: str, context: dict[str, Any]) -> Rendered:
    """Renders a template set; raises UnknownTemplate when `name` has no subject or text."""
    if not _NAME.match(name):
        raise UnknownTemplate(f"not a template name: {name!r}")
    try:
        subject = _text.get_template(f"{name}.subject.j2").render(context)
        text = _text.get_template(f"{name}.txt.j2").render(context)
    except TemplateNotFound as exc:
        raise UnknownTemplate(f"no e-mail template {name!r}") from exc
    try:
        html: str | None = _html.get_template(f"{name}.html.j2").render(context)
    except TemplateNotFound:
        html = None
    # A subject is one header line: folding any newline keeps context values from
    # injecting headers.
    return Rendered(" ".join(subject.split()), text, html)


def template_names() -> list[str]:
    return sorted({p.name.split(".")[0] for p in TEMPLATES.glob("*.subject.j2")})
