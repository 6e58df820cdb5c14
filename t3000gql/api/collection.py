"""Collection through the API: collect a trend log now, refresh a point from its device, write a point's value
to its device. Each is a line or two around the collection service (`services.collection`). A device that
does not answer is a DEVICE_TIMEOUT error and one that refuses is a DEVICE_ERROR naming its reason (the mutation
field is then null); a collection run the device answered lists the points it gave no value for in
`failedPoints` instead."""

from __future__ import annotations

from datetime import datetime

import strawberry

from t3000gql.api.context import Info
from t3000gql.api.enums import PointType
from t3000gql.api.faults import PointFailure
from t3000gql.api.mapping import from_attributes
from t3000gql.api.types import MonitoringPoint, PointValue
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
        "does not answer; points it answers with an error for are listed in failedPoints."
    )
    async def collect_now(self, info: Info, trend_log_id: int) -> CollectionRun | None:
        result = await info.context.services.collection.collect_now(trend_log_id)
        return from_attributes(
            CollectionRun,
            result,
            timestamp=to_datetime(result.ts_ms),
            failed_points=[PointFailure.of(failure) for failure in result.failed_points],
        )

    @strawberry.mutation(
        description="Reads a point from its device now, even when its cached value is fresh, and stores the "
        "value (source on-demand)."
    )
    async def refresh_point(
        self, info: Info, device_id: int, point_type: PointType, point_number: int
    ) -> PointValue | None:
        ref = PointRef(device_id, point_type, point_number)
        point = await info.context.require_point(ref)
        value = await info.context.services.collection.refresh_point(ref)
        return PointValue.of(MonitoringPoint.from_record(point), value)

    @strawberry.mutation(
        description="Writes a value to a point on its device (a digital point takes 0 or 1), then stores it "
        "(source api-write) with an audit entry holding the old and the new value. Nothing is stored when the "
        "device refuses (DEVICE_ERROR with the device's reason; the device stays online and its other points "
        "readable) or does not answer (DEVICE_TIMEOUT). For devices without a driver (protocol none) only the "
        "store is written."
    )
    async def write_point_value(
        self, info: Info, device_id: int, point_type: PointType, point_number: int, value: float
    ) -> PointValue | None:
        ref = PointRef(device_id, point_type, point_number)
        point = await info.context.require_point(ref)
        written = await info.context.services.collection.write_point_value(ref, value)  # user_id: when auth lands
        return PointValue.of(MonitoringPoint.from_record(point), written)
