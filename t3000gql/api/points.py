"""Monitoring points and their current values: look up, define, delete, write current values."""

from __future__ import annotations

import strawberry

from t3000gql.api.access import needs
from t3000gql.api.context import Info
from t3000gql.api.enums import PointType
from t3000gql.api.inputs import MonitoringPointInput, PointValueInput
from t3000gql.api.limits import MAX_DEVICE_VALUES, MAX_UPSERT_POINTS, check_count
from t3000gql.api.loaders import PointsOf
from t3000gql.api.types import CacheStats, MonitoringPoint, UpsertPointsResult, WriteCounts
from t3000gql.auth import Role
from t3000gql.domain.points import PointRef
from t3000gql.storage.write_path import Audit

API_SOURCE = "api"
UPDATE_OPERATION = "update_device_data"


@strawberry.type
class PointQueries:
    @strawberry.field(description="One point by device id, type and number.")
    async def point(
        self, info: Info, device_id: int, point_type: PointType, point_number: int
    ) -> MonitoringPoint | None:
        point = await info.context.require_point(PointRef(device_id, point_type, point_number))
        return MonitoringPoint.from_record(point)

    @strawberry.field(description="The points of a device, by type and number.")
    async def monitoring_points(self, info: Info, device_id: int) -> list[MonitoringPoint] | None:
        await info.context.require_device(device_id)
        listed = await info.context.loaders.points_of.load(PointsOf(device_id))
        return [MonitoringPoint.from_record(point) for point in listed]

    @strawberry.field(description="Realtime cache statistics over all points.")
    def cache_stats(self, info: Info) -> CacheStats:
        return CacheStats.from_record(info.context.store.cache.stats())


@strawberry.type
class PointMutations:
    @strawberry.mutation(
        description="Creates or changes points of a device, all or nothing (at most 1,000 a request). Needs the "
        "admin role; each point's change is audited.",
        extensions=needs(Role.ADMIN),
    )
    async def upsert_monitoring_points(
        self, info: Info, device_id: int, points: list[MonitoringPointInput]
    ) -> UpsertPointsResult | None:
        check_count(points, MAX_UPSERT_POINTS, "points")
        given = [point.to_domain(index) for index, point in enumerate(points)]
        written = await info.context.registry.upsert_points(device_id, given, info.context.actor)
        return UpsertPointsResult(
            inserted=written.inserted,
            updated=written.updated,
            points=[MonitoringPoint.from_record(point) for point in written.points],
        )

    @strawberry.mutation(
        description="Deletes a point with its history. False when there was no such point. Needs the admin role; "
        "audited with how many samples went.",
        extensions=needs(Role.ADMIN),
    )
    async def delete_monitoring_point(
        self, info: Info, device_id: int, point_type: PointType, point_number: int
    ) -> bool | None:
        ref = PointRef(device_id, point_type, point_number)
        return await info.context.registry.delete_point(ref, info.context.actor)

    @strawberry.mutation(
        description="Writes current values of a device's points (history, cache and live updates), all or "
        "nothing (at most 10,000 a request); each change is audited with the old and the new value. Stores "
        "only: nothing is sent to the device (writePointValue commands it). Needs the ingest role.",
        extensions=needs(Role.INGEST),
    )
    async def update_device_data(
        self, info: Info, device_id: int, values: list[PointValueInput]
    ) -> WriteCounts | None:
        check_count(values, MAX_DEVICE_VALUES, "values")
        await info.context.require_device(device_id)
        samples = [value.to_sample(info.context, device_id) for value in values]
        audit = Audit(UPDATE_OPERATION, info.context.actor)
        result = await info.context.store.writes.record(samples, API_SOURCE, audit=audit)
        return WriteCounts(inserted=result.inserted, updated=result.updated, unchanged=result.unchanged)
