"""Collection through the API: collect a trend log now, refresh a point from its device, command a point (write
its value, release it) on its device; each needs the operator role and is audited. Each is a line or two around the collection service (`services.collection`). A device that
does not answer is a DEVICE_TIMEOUT error and one that refuses is a DEVICE_ERROR naming its reason (the mutation
field is then null); a collection run the device answered lists the points it gave no value for in
`failedPoints` instead."""

from __future__ import annotations

from datetime import datetime

import strawberry

from t3000gql.api.access import needs
from t3000gql.api.context import Info
from t3000gql.api.enums import PointType
from t3000gql.api.faults import PointFailure
from t3000gql.api.mapping import from_attributes
from t3000gql.api.types import MonitoringPoint, PointValue
from t3000gql.auth import Role
from t3000gql.domain.points import PointRef
from t3000gql.domain.timeutil import to_datetime


@strawberry.type(description="One collection of a trend log: its points read from the device and stored.")
class CollectionRun:
    trend_log_id: int
    device_id: int
    timestamp: datetime = strawberry.field(description="The time the samples are stored at.")
    samples: int = strawberry.field(description="How many samples were stored (one per point read).")
    failed_points: list[PointFailure] = strawberry.field(
        description="Points the device gave no value for (it answered with an error for them, or they cannot be "
        "read as configured); the other points were stored."
    )


@strawberry.type
class CollectionMutations:
    @strawberry.mutation(
        description="Collects a trend log now (even an inactive one, even if its device is being skipped after "
        "failures): its points are read from the device in bulk and stored with source collector. If a "
        "collection of it is already running, that one's result is returned. DEVICE_TIMEOUT when the device "
        "does not answer; points it answers with an error for are listed in failedPoints. Needs the operator "
        "role; audited.",
        extensions=needs(Role.OPERATOR),
    )
    async def collect_now(self, info: Info, trend_log_id: int) -> CollectionRun | None:
        result = await info.context.services.collection.collect_now(trend_log_id, actor=info.context.actor)
        return from_attributes(
            CollectionRun,
            result,
            timestamp=to_datetime(result.ts_ms),
            failed_points=[PointFailure.of(failure) for failure in result.failed_points],
        )

    @strawberry.mutation(
        description="Reads a point from its device now, even when its cached value is fresh, and stores the "
        "value (source on-demand). Needs the operator role; audited.",
        extensions=needs(Role.OPERATOR),
    )
    async def refresh_point(
        self, info: Info, device_id: int, point_type: PointType, point_number: int
    ) -> PointValue | None:
        ref = PointRef(device_id, point_type, point_number)
        point = await info.context.require_point(ref)
        value = await info.context.services.collection.refresh_point(ref, actor=info.context.actor)
        return PointValue.of(MonitoringPoint.from_record(point), value)

    @strawberry.mutation(
        description="Commands a point: writes the value to its device, then stores it (source api-write). The "
        "point must be writable, it and its device active, the value within minValue..maxValue, and a digital "
        "point takes 0 or 1; a refusal is BAD_USER_INPUT naming the rule, and nothing is sent. BACnet writes go "
        "at `priority` (1..16; BACNET_WRITE_PRIORITY when left out); a T3 point is switched to manual first. "
        "The audit trail records the intent before the device is asked and the outcome after. Nothing is stored "
        "when the device refuses (DEVICE_ERROR, extensions.deviceWrite REFUSED: it did not take the value) or "
        "does not confirm (DEVICE_TIMEOUT, deviceWrite UNCONFIRMED: it may have). Devices without a driver "
        "(protocol none) get only the store. Needs the operator role.",
        extensions=needs(Role.OPERATOR),
    )
    async def write_point_value(
        self,
        info: Info,
        device_id: int,
        point_type: PointType,
        point_number: int,
        value: float,
        priority: int | None = None,
    ) -> PointValue | None:
        ref = PointRef(device_id, point_type, point_number)
        point = await info.context.require_point(ref)
        written = await info.context.services.collection.write_point_value(
            ref, value, priority=priority, actor=info.context.actor
        )
        return PointValue.of(MonitoringPoint.from_record(point), written)

    @strawberry.mutation(
        description="Releases a command: BACnet writes NULL at `priority` (BACNET_WRITE_PRIORITY when left out), "
        "so a lower priority or relinquishDefault rules again; a T3 point goes back to auto, so its program sets "
        "it. Answers the value the device holds then (read back and stored, source on-demand). The same rules "
        "as writePointValue apply (writable, active); audited. Needs the operator role.",
        extensions=needs(Role.OPERATOR),
    )
    async def release_point_value(
        self, info: Info, device_id: int, point_type: PointType, point_number: int, priority: int | None = None
    ) -> PointValue | None:
        ref = PointRef(device_id, point_type, point_number)
        point = await info.context.require_point(ref)
        current = await info.context.services.collection.release_point_value(
            ref, priority=priority, actor=info.context.actor
        )
        return PointValue.of(MonitoringPoint.from_record(point), current)
