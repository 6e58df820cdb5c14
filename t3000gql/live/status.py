"""Device reachability: recorded in the database, published on the live bus only when it changed."""

from __future__ import annotations

from t3000gql.live.bus import LiveBus
from t3000gql.storage.devices import DeviceRepository


async def record_device_status(
    devices: DeviceRepository, live: LiveBus, device_id: int, *, online: bool, at_ms: int
) -> bool:
    """What the collector calls after each attempt to reach a device; returns whether `online` changed.

    Raises NotFoundError for an unknown device. A device seen again while online updates `last_seen` only, and
    subscribers hear nothing.
    """
    changed = await devices.set_status(device_id, online=online, seen_at=at_ms)
    if changed:
        live.publish_device_status(device_id, online, at_ms)
    return changed
