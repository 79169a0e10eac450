"""The demo's DP campaign (`make run`): a published campaign with one template on the demo
event, so a newcomer opens `/dp/<slug>`, makes a DP from a photo and downloads it."""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.core.db import Database
from admitone.core.ids import EventId, FileId, UserId
from admitone.dp import service
from admitone.dp.models import DpCampaign
from admitone.dp.render import load_frame, parse_layout
from admitone.dp.schemas import CampaignCreate
from admitone.events.models import Event
from admitone.integrations.storage import storage_for
from admitone.orgs.models import TeamMember
from admitone.settings import Settings

DEMO_CAMPAIGN_SLUG = "demo-night-im-attending"
SIZE = 1080
LAYOUT = {
    "width": SIZE,
    "height": SIZE,
    "format": "jpeg",
    "photo": {"x": 240, "y": 120, "width": 600, "height": 600, "shape": "circle"},
    "texts": [
        {"key": "name", "x": 90, "y": 760, "width": 900, "height": 110, "size": 80,
         "color": "#ffffff", "align": "center", "required": True},
        {"key": "title", "x": 140, "y": 880, "width": 800, "height": 60, "size": 44,
         "color": "#f5d76e", "align": "center", "uppercase": True},
    ],
}  # fmt: skip


def frame_png() -> bytes:
    """A purple frame with a round window for the photo and a band for the texts."""
    frame = Image.new("RGBA", (SIZE, SIZE), (59, 47, 201, 255))
    draw = ImageDraw.Draw(frame)
    draw.rectangle((0, 960, SIZE, SIZE), fill=(27, 27, 31, 255))
    draw.ellipse((240, 120, 840, 720), fill=(0, 0, 0, 0))
    draw.ellipse((228, 108, 852, 732), outline=(245, 215, 110, 255), width=12)
    out = io.BytesIO()
    frame.save(out, "PNG")
    return out.getvalue()


def _existing(session: Session) -> str | None:
    return session.scalar(select(DpCampaign.slug).where(DpCampaign.slug == DEMO_CAMPAIGN_SLUG))


def _organizer_and_event(session: Session, event_slug: str) -> tuple[UserId, EventId]:
    event = session.scalars(select(Event).where(Event.slug == event_slug)).one()
    owner = session.scalar(
        select(TeamMember.user_id).where(
            TeamMember.organization_id == event.organization_id, TeamMember.role == "owner"
        )
    )
    assert owner is not None
    return owner, event.id


def seed(db: Database, settings: Settings, event_slug: str) -> str:
    """Seeds the campaign once (idempotent); returns its page's URL."""
    url = f"{settings.base_url.rstrip('/')}/dp/{DEMO_CAMPAIGN_SLUG}"
    if db.query(_existing):
        return url
    user_id, event_id = db.query(_organizer_and_event, event_slug)
    data = frame_png()
    load_frame(data, parse_layout(LAYOUT))  # the frame fits its layout
    campaign = db.mutation(
        service.create_campaign,
        user_id,
        event_id,
        CampaignCreate(
            title="I'm attending Demo Night",
            slug=DEMO_CAMPAIGN_SLUG,
            description="Make your picture for Admit One Demo Night and share it.",
        ),
    )
    file_id = FileId.new()
    stored = service.StoredFrame(
        file_id=file_id,
        storage_key=service.frame_key(campaign.id, file_id, "png"),
        content_type="image/png",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    storage_for(settings).put(stored.storage_key, data, stored.content_type)
    db.mutation(service.add_template, user_id, campaign.id, "Purple", LAYOUT, stored)
    db.mutation(service.publish_campaign, user_id, campaign.id)
    return url
