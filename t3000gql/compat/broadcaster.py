"""broadcaster's `Broadcast._backend`: closing the broker connection of a `Broadcast` whose `connect()` failed.

`Broadcast.connect()` connects its backend first and creates its listener task after; when the backend's
connect fails, `Broadcast.disconnect()` raises AttributeError (no `_listener_task`) and never closes what the
backend opened (a half-open Redis or PostgreSQL connection). So the live bus closes the backend itself.
"""

from __future__ import annotations

import inspect

from broadcaster import Broadcast

from t3000gql.compat import require

DISTRIBUTION = "broadcaster"
WRITTEN_AGAINST = "0.3.1"


async def disconnect_backend(broadcast: Broadcast) -> None:
    await broadcast._backend.disconnect()


def check() -> None:
    probe = Broadcast("memory://")
    backend = getattr(probe, "_backend", None)
    require(
        backend is not None and inspect.iscoroutinefunction(getattr(backend, "disconnect", None)),
        DISTRIBUTION,
        WRITTEN_AGAINST,
        "Broadcast no longer keeps its backend in `_backend` with an async `disconnect()`",
    )
