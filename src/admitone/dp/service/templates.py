"""Templates of a campaign: a frame image and a layout, validated by the renderer on save.

The route validates (`dp.render.parse_layout`, `load_frame`) and stores the frame outside
any transaction; `add_template` records it. A template that DPs were made from is never
removed: `delete_template` retires it (no new DPs, gone from the campaign page).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admitone.access.service import record_audit
from admitone.core.files import File
from admitone.core.ids import DpCampaignId, DpTemplateId, FileId, UserId
from admitone.dp import errors
from admitone.dp.models import DpCampaign, DpTemplate, TemplateStatus
from admitone.dp.render import (
    Frame,
    Layout,
    Rendered,
    frame_cache,
    parse_layout,
    render_preview,
)
from admitone.dp.service.rules import (
    PUBLIC_CAMPAIGN,
    ensure_open_for_changes,
    guard_campaign,
    guard_template,
)

ORDER = (DpTemplate.position, DpTemplate.created_at, DpTemplate.id)


@dataclass(frozen=True)
class StoredFrame:
    file_id: FileId
    storage_key: str
    content_type: str
    size_bytes: int
    sha256: str


def frame_key(campaign_id: str, file_id: str, extension: str) -> str:
    return f"dp/frames/{campaign_id}/{file_id}.{extension}"


def check_template_change(session: Session, user_id: UserId, campaign_id: DpCampaignId) -> None:
    """What `add_template` will check, asked before the upload is decoded."""
    ensure_open_for_changes(guard_campaign(session, user_id, campaign_id)[0])


def add_template(
    session: Session,
    user_id: UserId,
    campaign_id: DpCampaignId,
    name: str,
    layout: dict[str, Any],
    frame: StoredFrame,
) -> DpTemplate:
    campaign, _ = guard_campaign(session, user_id, campaign_id, lock=True)
    ensure_open_for_changes(campaign)
    session.add(
        File(
            id=frame.file_id,
            storage_key=frame.storage_key,
            content_type=frame.content_type,
            size_bytes=frame.size_bytes,
            sha256=frame.sha256,
            owner_user_id=user_id,
        )
    )
    session.flush()
    last = session.scalar(
        select(DpTemplate.position)
        .where(DpTemplate.campaign_id == campaign.id)
        .order_by(DpTemplate.position.desc())
        .limit(1)
    )
    template = DpTemplate(
        id=DpTemplateId.new(),
        campaign_id=campaign.id,
        name=name,
        frame_file_id=frame.file_id,
        layout=layout,
        position=0 if last is None else last + 1,
        status=TemplateStatus.ACTIVE,
    )
    session.add(template)
    session.flush()
    record_audit(
        session,
        actor_user_id=user_id,
        action="dp_template.created",
        target_type="dp_template",
        target_id=template.id,
        organization_id=campaign.organization_id,
        after={"campaign_id": campaign.id, "name": name, "frame_sha256": frame.sha256},
    )
    return template


def get_template(session: Session, user_id: UserId, template_id: DpTemplateId) -> DpTemplate:
    return guard_template(session, user_id, template_id)[0]


def template_frame(
    session: Session, user_id: UserId, template_id: DpTemplateId
) -> tuple[DpTemplate, File]:
    """The template (managed by the caller) and its frame's file row."""
    template, _ = guard_template(session, user_id, template_id)
    file = session.get(File, template.frame_file_id)
    assert file is not None  # the foreign key keeps it
    return template, file


def list_templates(session: Session, campaign_id: DpCampaignId) -> list[DpTemplate]:
    """A campaign's live templates in their order (the caller has checked access)."""
    return list(
        session.scalars(
            select(DpTemplate)
            .where(
                DpTemplate.campaign_id == campaign_id, DpTemplate.status == TemplateStatus.ACTIVE
            )
            .order_by(*ORDER)
        )
    )


def update_template(
    session: Session,
    user_id: UserId,
    template_id: DpTemplateId,
    changes: dict[str, Any],
) -> DpTemplate:
    """Sets `name`, `position` or `layout` (a layout the route validated against the frame)."""
    template, campaign = guard_template(session, user_id, template_id, lock=True)
    ensure_open_for_changes(campaign)
    fields = tuple(k for k, v in changes.items() if v is not None and getattr(template, k) != v)
    if not fields:
        return template
    before = {f: getattr(template, f) for f in fields}
    for name in fields:
        setattr(template, name, changes[name])
    session.flush()
    record_audit(
        session,
        actor_user_id=user_id,
        action="dp_template.updated",
        target_type="dp_template",
        target_id=template.id,
        organization_id=campaign.organization_id,
        before=before,
        after={f: getattr(template, f) for f in fields},
    )
    return template


def delete_template(session: Session, user_id: UserId, template_id: DpTemplateId) -> None:
    """Retires the template: no new DPs from it; the DPs already made keep their images."""
    template, campaign = guard_template(session, user_id, template_id, lock=True)
    template.status = TemplateStatus.DELETED
    session.flush()
    record_audit(
        session,
        actor_user_id=user_id,
        action="dp_template.deleted",
        target_type="dp_template",
        target_id=template.id,
        organization_id=campaign.organization_id,
        before={"status": TemplateStatus.ACTIVE},
        after={"status": TemplateStatus.DELETED},
    )


def public_template(session: Session, template_id: DpTemplateId) -> tuple[DpTemplate, File]:
    """A live template of a campaign whose page is public, and its frame."""
    row = session.execute(
        select(DpTemplate, File)
        .join(DpCampaign, DpCampaign.id == DpTemplate.campaign_id)
        .join(File, File.id == DpTemplate.frame_file_id)
        .where(
            DpTemplate.id == template_id,
            DpTemplate.status == TemplateStatus.ACTIVE,
            *PUBLIC_CAMPAIGN,
        )
    ).one_or_none()
    if row is None:
        raise errors.TemplateNotFound()
    return row[0], row[1]


# --- the decoded frames of this process --------------------------------------------------


class PreparedCache:
    """Parsed layouts by template version; their frames are decoded once per process by the
    renderer's `frame_cache` (keyed by the frame's file id and the layout's geometry)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._layouts: OrderedDict[tuple[str, datetime], Layout] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, template: DpTemplate, fetch: Callable[[], bytes]) -> tuple[Layout, Frame]:
        key = (template.id, template.updated_at)
        with self._lock:
            layout = self._layouts.get(key)
            if layout is not None:
                self._layouts.move_to_end(key)
        if layout is None:
            layout = parse_layout(template.layout)
            with self._lock:
                self._layouts[key] = layout
                while len(self._layouts) > self.size:
                    self._layouts.popitem(last=False)
        return layout, frame_cache.get(template.frame_file_id, layout, fetch)


PREPARED = PreparedCache()


_previews: OrderedDict[tuple[str, datetime], Rendered] = OrderedDict()
_previews_lock = threading.Lock()


def preview(template: DpTemplate, fetch: Callable[[], bytes]) -> Rendered:
    """The template rendered with the sample photo and texts, once per template version per
    process."""
    key = (template.id, template.updated_at)
    with _previews_lock:
        found = _previews.get(key)
        if found is not None:
            return found
    layout, frame = PREPARED.get(template, fetch)
    rendered = render_preview(frame, layout)
    with _previews_lock:
        _previews[key] = rendered
        while len(_previews) > 32:
            _previews.popitem(last=False)
    return rendered
