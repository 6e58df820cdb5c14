"""Live subscriptions: the current values of watched points and then each change (`pointValues`), and devices
going online or offline or changing their set of failing points (`deviceStatus`). Both are fed by the live bus (t3000gql.live): a slow client only
fills its own bounded queue, which then keeps the latest value per point."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from t3000gql.api.context import Info
from t3000gql.api.enums import DataSource, PointType
from t3000gql.api.faults import PointFailure, RefreshError
from t3000gql.api.inputs import PointRefInput
from t3000gql.domain.samples import StoredSample
from t3000gql.domain.timeutil import to_datetime
from t3000gql.errors import NotFoundError, ValidationError
from t3000gql.live import DeviceStatus
from t3000gql.live.feeds import device_statuses, point_values, snapshot
from t3000gql.live.registry import device_key, device_stamp, point_key, point_stamp

MAX_WATCHED_POINTS = 10_000


@strawberry.type(description="A value of a point: first its current value, then each change as it is stored.")
class LivePointValue:
    device_id: int
    point_type: PointType
    point_number: int
    value: float
    timestamp: datetime
    source: DataSource = strawberry.field(description="Who wrote it.")

    @classmethod
    def of(cls, sample: StoredSample) -> LivePointValue:
        point = sample.point
        return cls(
            device_id=point.device_id,
            point_type=point.point_type,
            point_number=point.point_number,
            value=sample.value,
            timestamp=to_datetime(sample.ts_ms),
            source=DataSource.of(sample.source),
        )


@strawberry.type(
    description="A device became reachable (online) or stopped answering (offline), or the set of its failing "
    "points changed. Each one is the device's whole status."
)
class DeviceStatusChange:
    device_id: int
    online: bool = strawberry.field(description="False only for a device that did not answer.")
    timestamp: datetime
    error: RefreshError | None = strawberry.field(
        description="Why it is offline (DEVICE_TIMEOUT), since when, and when it is tried again; null while online."
    )
    failing_points: list[PointFailure] = strawberry.field(
        description="Points whose last read failed although the device answered, with the device's reason and "
        "since when."
    )

    @classmethod
    def of(cls, status: DeviceStatus) -> DeviceStatusChange:
        return cls(
            device_id=status.device_id,
            online=status.online,
            timestamp=to_datetime(status.at_ms),
            error=None if status.fault is None else RefreshError.of(status.fault),
            failing_points=[PointFailure.of(failure) for failure in status.failing],
        )


@strawberry.type
class LiveSubscriptions:
    @strawberry.subscription(
        description="The current value of every watched point (unless includeInitial is false), then each "
        "change, with no gap and no repeat between the two. Watches one device (deviceId), some points "
        "(points), those points of that device (both), or every point of every device (neither). A client "
        "that reads too slowly gets the latest value of each point instead of every change."
    )
    async def point_values(
        self,
        info: Info,
        device_id: int | None = None,
        points: list[PointRefInput] | None = None,
        include_initial: bool = True,
    ) -> AsyncGenerator[LivePointValue, None]:
        context = info.context
        if device_id is not None:
            await context.require_device(device_id)
        refs = None
        if points is not None:
            if len(points) > MAX_WATCHED_POINTS:
                raise ValidationError(
                    f"has more than {MAX_WATCHED_POINTS} points", field="points", value=len(points)
                )
            refs = [point.to_ref() for point in points]
            found = await context.loaders.point_by_ref.load_many(refs)
            missing = [str(ref) for ref, record in zip(refs, found, strict=True) if record is None]
            if missing:
                raise NotFoundError(f"no such point: {', '.join(missing[:10])}")
        store = context.store
        share = context.live_share
        if share is not None:  # one execution per event for every subscriber of this operation
            live, devices = context.services.live, None if device_id is None else [device_id]
            if share.group is not None:
                async for sample in share.group.events():
                    yield LivePointValue.of(sample)
                return
            member = share.join(lambda: live.watch_points(device_ids=devices, points=refs), point_key, point_stamp)
            if include_initial:  # registered above, read now: no gap, and the member skips what this showed
                current = snapshot(store.cache, store.points.directory, device_ids=devices, points=refs)
                member.ignore_through({sample.point: sample.ts_ms for sample in current})
                for sample in current:
                    yield LivePointValue.of(sample)
            return  # the changes come from the group (api/websocket.py sends them)
        feed = point_values(
            context.services.live,
            store.cache,
            store.points.directory,
            device_ids=None if device_id is None else [device_id],
            points=refs,
            include_initial=include_initial,
        )
        async with contextlib.aclosing(feed):  # leaving early unregisters from the bus at once, not at GC
            async for sample in feed:
                yield LivePointValue.of(sample)

    @strawberry.subscription(
        description="Each time a device (or the given one) goes online or offline, or a point of it starts or "
        "stops failing."
    )
    async def device_status(
        self, info: Info, device_id: int | None = None
    ) -> AsyncGenerator[DeviceStatusChange, None]:
        context = info.context
        if device_id is not None:
            await context.require_device(device_id)
        share = context.live_share
        devices = None if device_id is None else [device_id]
        if share is not None:  # one execution per event for every subscriber of this operation
            if share.group is not None:
                async for status in share.group.events():
                    yield DeviceStatusChange.of(status)
                return
            live = context.services.live
            share.join(lambda: live.watch_devices(device_ids=devices), device_key, device_stamp)
            return
        feed = device_statuses(context.services.live, device_ids=devices)
        async with contextlib.aclosing(feed):
            async for status in feed:
                yield DeviceStatusChange.of(status)
