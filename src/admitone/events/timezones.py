"""The IANA time zone names an event may use: the system's database (tzdata)."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any


@cache
def zone_names() -> frozenset[str]:
    # The system database also lists files that are not zone names a person picks.
    return frozenset(
        z
        for z in zoneinfo.available_timezones()
        if z not in {"localtime", "posixrules", "Factory"}
        and not z.startswith(("posix/", "right/"))
    )


def declare_zone_names(schema: dict[str, Any]) -> None:
    """The OpenAPI schema of a time zone field lists the names the service accepts (it
    answers 422 `invalid_timezone` for any other), so clients and the fuzzer can pick one."""
    schema["enum"] = sorted(zone_names())
