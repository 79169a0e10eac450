"""Every way a DP campaign, template or generated DP can be refused (the renderer's own
refusals, `invalid_layout`, `unsupported_image_type`, `image_too_large`, are in
`dp.render.errors`)."""

from admitone.core.errors import Conflict, Forbidden, Gone, Invalid, NotFound, Unavailable


class CampaignNotFound(NotFound):
    code = "dp_campaign_not_found"
    message = "No such DP campaign."


class TemplateNotFound(NotFound):
    code = "dp_template_not_found"
    message = "No such DP template."


class DpNotFound(NotFound):
    code = "dp_not_found"
    message = "No such DP, or it is not yours."


class CampaignNotEditable(Conflict):
    code = "dp_campaign_not_editable"
    message = "A closed campaign cannot change."


class CampaignNotPublishable(Conflict):
    code = "dp_campaign_not_publishable"
    message = "Only a draft campaign with at least one template can be published."


class CampaignNotOpen(Conflict):
    code = "dp_campaign_not_open"
    message = "This campaign does not take new DPs."


class EventNotFound(NotFound):
    code = "event_not_found"
    message = "No such event."


class PassRequired(Forbidden):
    code = "pass_required"
    message = "This campaign is for ticket holders: sign in with the account that holds your pass."


class InvalidTexts(Invalid):
    code = "invalid_texts"
    message = "The texts must be a JSON object of the template's text keys to strings."


class InvalidDpToken(Invalid):
    code = "invalid_dp_token"
    message = "The DP token is not one this API returned."


class ImageBlocked(Invalid):
    code = "image_blocked"
    message = "This photo cannot be used."


class TextBlocked(Invalid):
    code = "text_blocked"
    message = "This text cannot be used."


class StorageUnavailable(Unavailable):
    code = "storage_unavailable"
    message = "The file store is not reachable; try again."


class SlugTaken(Conflict):
    code = "slug_taken"
    message = "Another campaign has this slug."


class DpPhotoUnknown(Conflict):
    code = "dp_photo_unknown"
    message = "This DP was made without the block-list check: its photo's hash was not kept."


class ReportReasonBlocked(Invalid):
    code = "report_reason_blocked"
    message = "The reason contains words we do not accept; describe the problem differently."


class BatchNotFound(NotFound):
    code = "dp_batch_not_found"
    message = "No such DP batch."


class BatchNotFinished(Conflict):
    code = "dp_batch_not_finished"
    message = "The batch is still rendering: download it once it has finished."


class BatchPurged(Gone):
    code = "dp_batch_purged"
    message = "The batch's files were deleted after its retention period."


class BatchNotRunning(Conflict):
    code = "dp_batch_not_running"
    message = "The batch has already finished or was cancelled."


class EmptyBatch(Invalid):
    code = "empty_batch"
    message = "The CSV file has no rows."
