"""Ways access can be refused."""

from admitone.core.errors import Conflict, Forbidden, NotFound


class CapabilityRequired(Forbidden):
    code = "capability_required"
    message = "Your role does not allow this."


class ScopeNotFound(NotFound):
    """The organization, event or workspace does not exist or the caller may not see it."""

    code = "not_found"


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "No user has that id or e-mail address."


class PlatformRoleNotFound(NotFound):
    code = "platform_role_not_found"
    message = "No such platform role grant."


class RoleAlreadyGranted(Conflict):
    code = "role_already_granted"
    message = "This user already holds this platform role."


class LastSuperadmin(Conflict):
    code = "last_superadmin"
    message = "Grant superadmin to someone else first: the platform must keep one."
