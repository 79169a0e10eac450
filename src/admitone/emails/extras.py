"""What a template's e-mail carries besides its text: files and extra context (buttons),
made by the send job, never by the mutation that queued the message. Domains above
`emails` register a template's extras at import (from their `jobs.py`, which every worker
and app loads), so `emails` imports none of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from admitone.integrations.mail import Attachment
from admitone.settings import Settings


@dataclass(frozen=True)
class Extras:
    # A read in the send job's query (e.g. the passes to attach); its result feeds the rest.
    load: Callable[[Session, Settings, dict[str, Any]], Any]
    # Extra template context (links, buttons) from what `load` read.
    links: Callable[[Settings, dict[str, Any], Any], dict[str, Any]]
    # The files to attach, made outside any transaction.
    files: Callable[[Settings, Any], tuple[Attachment, ...]]


_EXTRAS: dict[str, Extras] = {}


def register(template: str, extras: Extras) -> None:
    _EXTRAS[template] = extras


def extras_for(template: str) -> Extras | None:
    return _EXTRAS.get(template)
