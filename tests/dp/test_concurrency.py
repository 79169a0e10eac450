"""Races settled by the database (PostgreSQL, real commits)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from admitone.core.db import Database
from admitone.dp import service
from admitone.dp.schemas import CampaignCreate
from admitone.settings import Settings
from tests.factories import make_event, make_organization, make_user


@pytest.mark.postgres
@pytest.mark.committed
def test_campaigns_created_at_once_with_one_title_get_distinct_slugs(
    committed_db: Database, settings: Settings
) -> None:
    with committed_db.session() as s:
        user = make_user(s)
        event = make_event(s, make_organization(s, user))
    body = CampaignCreate(title="Same title")

    def create(_: int) -> str:
        return committed_db.mutation(service.create_campaign, user.id, event.id, body).slug

    with ThreadPoolExecutor(6) as pool:
        slugs = list(pool.map(create, range(6)))
    assert len(set(slugs)) == 6
    assert all(s.startswith("same-title") for s in slugs)
