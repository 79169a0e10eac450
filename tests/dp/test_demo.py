"""The demo's DP campaign: seeded once; a newcomer makes a DP on it and downloads it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from admitone import demo
from admitone.core.db import Database
from admitone.dp.demo import DEMO_CAMPAIGN_SLUG
from admitone.dp.models import DpCampaign, DpTemplate
from admitone.settings import Settings
from tests.dp.conftest import decoded, generate, photo


def test_demo_seeds_a_published_campaign_once_that_makes_a_dp(
    db: Database, settings: Settings, client: TestClient
) -> None:
    message = demo.seed(db, settings)
    assert f"http://testserver/dp/{DEMO_CAMPAIGN_SLUG}" in message
    demo.seed(db, settings)
    counts = db.query(
        lambda s: (
            s.scalar(select(func.count()).select_from(DpCampaign)),
            s.scalar(select(func.count()).select_from(DpTemplate)),
        )
    )
    assert counts == (1, 1)
    assert client.get(f"/dp/{DEMO_CAMPAIGN_SLUG}").status_code == 200
    public = client.get(f"/api/v1/public/dp-campaigns/{DEMO_CAMPAIGN_SLUG}").json()
    template = public["templates"][0]
    made = generate(
        client, public["id"], template["id"], data=photo(1600, 1200), texts={"name": "Ada Obi"}
    )
    assert made.status_code == 201, made.text
    body = made.json()
    download = client.get(f"/api/v1/public/dps/{body['id']}/image", params={"download": "1"})
    assert download.headers["content-disposition"] == 'attachment; filename="dp.jpg"'
    assert decoded(download.content).size == (1080, 1080)
