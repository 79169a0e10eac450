"""Every way a check-in request can be refused (refused scans are 200 results, not these)."""

from __future__ import annotations

from admitone.core.errors import Conflict, Invalid, NotFound


class CheckpointNotFound(NotFound):
    code = "checkpoint_not_found"
    message = "No such checkpoint at this event."


class CheckInNotFound(NotFound):
    code = "check_in_not_found"
    message = "No such check-in at this event."


class CheckInAlreadyUndone(Conflict):
    code = "check_in_already_undone"
    message = "This check-in was already undone."


class ScanIdReused(Conflict):
    code = "scan_id_reused"
    message = "This scan_id was already used for a scan at another event."


class UnknownTier(Invalid):
    code = "unknown_tier"
    message = "A tier given is not a tier of this event."


class UnknownSession(Invalid):
    code = "unknown_session"
    message = "The session given is not a session of this event."


class InvalidWindow(Invalid):
    code = "invalid_window"
    message = "The checkpoint must close after it opens."
