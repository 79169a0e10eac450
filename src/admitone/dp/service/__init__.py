"""DP rules by use case: campaigns, templates, generation, owners, the public hub, sharing,
analytics and the one safety decision.

Generation renders outside any transaction (an action) and records the DP with one
mutation; see `generation`. Every DP's fate (visible, pending review) comes from
`safety.decide`; the public reads (`hub`) show only `visible` DPs, and the gallery only
those their owners opted in.
"""

from __future__ import annotations

from admitone.dp.service.analytics import campaign_stats, count, flush
from admitone.dp.service.campaigns import (
    close_campaign,
    create_campaign,
    get_campaign,
    list_campaigns,
    publish_campaign,
    update_campaign,
)
from admitone.dp.service.generation import Generated, generate_dp, parse_texts
from admitone.dp.service.hub import (
    PublicCampaign,
    gallery,
    hub,
    public_campaign,
    public_dp_image,
    share_page,
)
from admitone.dp.service.owners import delete_dp, my_dps, own_dp, own_dp_image
from admitone.dp.service.reports import report_dp
from admitone.dp.service.review import (
    Action,
    QueueItem,
    block_dp_photo,
    classify_dp,
    moderate_dp,
    moderated_image,
    review_queue,
)
from admitone.dp.service.rules import CLASSIFY_JOB, DELETE_BLOB_JOB
from admitone.dp.service.templates import (
    PREPARED,
    StoredFrame,
    add_template,
    check_template_change,
    delete_template,
    frame_key,
    get_template,
    list_templates,
    preview,
    public_template,
    template_frame,
    update_template,
)

__all__ = [
    "CLASSIFY_JOB",
    "DELETE_BLOB_JOB",
    "PREPARED",
    "Action",
    "Generated",
    "PublicCampaign",
    "QueueItem",
    "StoredFrame",
    "add_template",
    "block_dp_photo",
    "campaign_stats",
    "check_template_change",
    "classify_dp",
    "close_campaign",
    "count",
    "create_campaign",
    "delete_dp",
    "delete_template",
    "flush",
    "frame_key",
    "gallery",
    "generate_dp",
    "get_campaign",
    "get_template",
    "hub",
    "list_campaigns",
    "list_templates",
    "moderate_dp",
    "moderated_image",
    "my_dps",
    "own_dp",
    "own_dp_image",
    "parse_texts",
    "preview",
    "public_campaign",
    "public_dp_image",
    "public_template",
    "publish_campaign",
    "report_dp",
    "review_queue",
    "share_page",
    "template_frame",
    "update_campaign",
    "update_template",
]
