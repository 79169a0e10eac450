"""A small demo for `make run`: seeded once, safe to run again."""

from __future__ import annotations

from typing import Any

from admitone.core.db import Database


def seed(db: Database, settings: Any) -> str:
    return "nothing to seed yet"
