"""What a subscription streams: the current value of every watched point, then each change, with neither a gap
nor a duplicate between the two.

No gap: the subscriber is registered on the bus before the snapshot is read, so a change committed after the
snapshot is queued for it. No duplicate: a change committed before the snapshot may still be on its way through
the broker; it carries a time at or before the snapshot's for its point and is skipped. (Registration and the
snapshot happen without an `await` between them, so no bus message is handled in between.)
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection

from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import StoredSample
from t3000gql.live.bus import LiveBus
from t3000gql.live.events import DeviceStatus
from t3000gql.storage.cache import RealtimeCache
from t3000gql.storage.points import PointDirectory


def snapshot(
    cache: RealtimeCache,
    directory: PointDirectory,
    *,
    device_ids: Collection[int] | None = None,
    points: Collection[PointRef] | None = None,
) -> list[StoredSample]:
    """The cached value of every watched point that has one, ordered by device, point type and number."""
    values: list[StoredSample] = []
    if points is not None:
        for ref in points:
            point_id = directory.get(ref)
            entry = cache.peek(point_id) if point_id is not None else None
            if entry is not None and (device_ids is None or ref.device_id in device_ids):
                values.append(StoredSample(ref, entry.point_id, entry.ts_ms, entry.value, entry.source))
    else:
        for entry in cache.entries():
            found = directory.ref_of(entry.point_id)
            if found is not None and (device_ids is None or found.device_id in device_ids):
                values.append(StoredSample(found, entry.point_id, entry.ts_ms, entry.value, entry.source))
    values.sort(key=lambda v: (v.point.device_id, v.point.point_type, v.point.point_number))
    return values


async def point_values(
    live: LiveBus,
    cache: RealtimeCache,
    directory: PointDirectory,
    *,
    device_ids: Collection[int] | None = None,
    points: Collection[PointRef] | None = None,
    include_initial: bool = True,
    queue_size: int | None = None,
) -> AsyncGenerator[StoredSample, None]:
    """Current values (when `include_initial`), then changes, until the caller stops iterating or the bus stops.

    No filter watches every point of every device; `device_ids` and `points` together watch those points of
    those devices.
    """
    with live.watch_points(device_ids=device_ids, points=points, queue_size=queue_size) as subscriber:
        if include_initial:
            current = snapshot(cache, directory, device_ids=device_ids, points=points)
            subscriber.ignore_through({value.point: value.ts_ms for value in current})
            for value in current:
                yield value
        async for change in subscriber:
            yield change


async def device_statuses(
    live: LiveBus, *, device_ids: Collection[int] | None = None, queue_size: int | None = None
) -> AsyncGenerator[DeviceStatus, None]:
    """Each time a watched device goes online or offline, until the caller stops iterating or the bus stops."""
    with live.watch_devices(device_ids=device_ids, queue_size=queue_size) as subscriber:
        async for status in subscriber:
            yield status
