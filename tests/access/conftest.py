"""Fixtures for access tests."""

from __future__ import annotations

import pytest

from admitone.core.db import Database
from admitone.settings import Settings
from tests.access.world import World, build_world


@pytest.fixture
def world(db: Database, settings: Settings) -> World:
    return build_world(db, settings)
