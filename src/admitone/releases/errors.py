"""Ways a release request is refused."""

from __future__ import annotations

from admitone.core.errors import NotFound


class ReleaseNotFound(NotFound):
    code = "release_not_found"
    message = "No such release."


class NoLiveRelease(NotFound):
    code = "no_live_release"
    message = "No release was live at that time."
