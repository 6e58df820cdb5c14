"""BAC0's `_write`: a WriteProperty that waits for the device's answer (the fence around it; BAC0 is imported
only by drivers, so it lives here rather than in t3000gql/compat/).

BAC0's public `write()` is fire-and-forget (it starts a task and returns None), so a driver could neither report a
refused write nor retry one that got no answer; the coroutine it starts, `_write(args)`, returns once the device
acknowledged and raises when it refused or did not answer.
"""

from __future__ import annotations

import inspect
from typing import Any

from BAC0.scripts.Lite import Lite

from t3000gql.compat import LibraryChanged, require

DISTRIBUTION = "BAC0"
WRITTEN_AGAINST = "2026.7.25"


async def write_and_wait(lite: Any, request: str) -> Any:
    """WriteProperty `request` ("<addr> <type> <inst> <prop> <value> [- <priority>]"), awaited until answered."""
    return await lite._write(request)


def check() -> None:
    write = getattr(Lite, "_write", None)
    if write is None or not inspect.iscoroutinefunction(write):
        raise LibraryChanged(DISTRIBUTION, WRITTEN_AGAINST, "BAC0's Lite no longer has the coroutine `_write`")
    require(
        list(inspect.signature(write).parameters) == ["self", "args"],
        DISTRIBUTION,
        WRITTEN_AGAINST,
        f"Lite._write{inspect.signature(write)} no longer takes one request string",
    )
    require(
        not inspect.iscoroutinefunction(Lite.write),
        DISTRIBUTION,
        WRITTEN_AGAINST,
        "Lite.write is a coroutine now (the fence may be dropped: await it instead)",
    )
