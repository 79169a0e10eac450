"""Ways access can be refused."""

from admitone.core.errors import Forbidden, NotFound


class CapabilityRequired(Forbidden):
    code = "capability_required"
    message = "Your role does not allow this."


class ScopeNotFound(NotFound):
    """The organization, event or workspace does not exist or the caller may not see it."""

    code = "not_found"
