"""Ways a tenancy change can be refused."""

from admitone.core.errors import Conflict, Forbidden, Gone, Invalid, NotFound, Unavailable


class WorkspaceNotFound(NotFound):
    code = "not_found"
    message = "No such workspace."


class OrganizationNotFound(NotFound):
    code = "not_found"
    message = "No such organization."


class MemberNotFound(NotFound):
    code = "member_not_found"
    message = "No such member."


class InvitationNotFound(NotFound):
    code = "invitation_not_found"
    message = "No such invitation."


class InvitationExpired(Gone):
    code = "invitation_expired"
    message = "This invitation has expired; ask for a new one."


class InvitationRevoked(Gone):
    code = "invitation_revoked"
    message = "This invitation was withdrawn."


class InvitationUsed(Conflict):
    code = "invitation_used"
    message = "This invitation has already been accepted."


class InvitationNotPending(Conflict):
    code = "invitation_not_pending"
    message = "Only a pending invitation can be resent or revoked."


class InvitationPending(Conflict):
    code = "invitation_pending"
    message = "This address already has a pending invitation; resend it instead."


class InvitationEmailMismatch(Forbidden):
    code = "invitation_email_mismatch"
    message = "This invitation was sent to another e-mail address; sign in with that one."


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    message = "Verify your e-mail address before accepting an invitation."


class AlreadyMember(Conflict):
    code = "already_member"
    message = "This person is already a member."


class LastOwner(Conflict):
    code = "last_owner"
    message = "Someone else must be an owner first: there must always be one."


class SlugTaken(Conflict):
    code = "slug_taken"
    message = "Another organization already uses this slug."


class OwnerCannotBeLimited(Invalid):
    code = "owner_cannot_be_limited"
    message = "An owner reaches every event; `event_ids` is only for other roles."


class UnknownEvents(Invalid):
    code = "unknown_events"
    message = "Some of `event_ids` are not events of this organization."


class StorageUnavailable(Unavailable):
    code = "storage_unavailable"
    message = "The file store is not answering; try again shortly."
