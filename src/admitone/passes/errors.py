"""Every way a pass request can be refused."""

from __future__ import annotations

from admitone.core.errors import Invalid, NotFound


class PassNotFound(NotFound):
    code = "pass_not_found"
    message = "No such pass."


class NoPassRequests(Invalid):
    code = "no_pass_requests"
    message = "At least one admitted person is needed to issue passes."
