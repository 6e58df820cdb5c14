"""Current values (seed 000's "device data operations"): a device's cached data, one point cache-first with the
device read on a miss, and a batch of current values written through the one write path.

Reads go through `services.collection.read_current`, the single-flight read GraphQL's `current` and `data` use: a fresh
value comes from the cache; a stale or missing one is read from the device once for all waiting readers. When the
device does not answer, the route answers 504 (or 502 for a device error) with the stale values in `data`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Path
from starlette.requests import Request
from starlette.responses import Response

from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import CurrentValue, Sample
from t3000gql.errors import NotFoundError, T3000Error, ValidationError
from t3000gql.rest import envelope, wire
from t3000gql.rest.access import Ingest, Viewer, actor_of
from t3000gql.rest.lookups import require_point
from t3000gql.rest.models import (
    I32,
    ApiResponse,
    BatchResult,
    DataPoint,
    DeviceDataBatch,
    DeviceDataResponse,
    PointTypePath,
)
from t3000gql.rest.routing import WITH_BODY, errors, router
from t3000gql.services import Services
from t3000gql.storage.records import MonitoringPoint
from t3000gql.storage.write_path import Audit

API_SOURCE = "api"
"""The source and audit operation GraphQL's updateDeviceData writes with: the same write, the same entries."""
UPDATE_OPERATION = "update_device_data"
CACHE = "cache"
DEVICE = "t3000"
DATABASE = "database"

DeviceId = Annotated[I32, Path(description="The controller's device id.", examples=[1001])]
PointNumber = Annotated[
    I32, Path(description="The point's number (1-based, as T3000 numbers them).", examples=[1])
]
PointTypeParam = Annotated[PointTypePath, Path(examples=["INPUT", 1])]

routes = router()


@routes.get(
    "/device/{device_id}/data",
    response_model=ApiResponse[DeviceDataResponse],
    responses=errors(404, 502, 504, stale=DeviceDataResponse),
    summary="All cached data of a device, with cache statistics",
)
async def get_device_data(device_id: DeviceId, services: Viewer) -> Response:
    await services.store.devices.require(device_id)
    points = await services.store.points.list_for_device(device_id)
    values, error, source = await _current(services, points)
    ids = [point.id for point in points]
    stats = services.store.cache.stats(ids)
    answer = {
        "device_id": device_id,
        "points": [wire.data_point(point, values[point.id]) for point in points if point.id in values],
        "last_updated": max((value.ts_ms for value in values.values()), default=0) // 1000,
        "cache_stats": {
            "total_points": stats.total_points,
            "fresh_points": stats.fresh_points,
            "stale_points": stats.stale_points,
            "cache_hit_rate": stats.cache_hit_rate,
        },
    }
    return _answer(services, answer, error, source)


@routes.get(
    "/device/{device_id}/point/{point_type}/{point_number}",
    response_model=ApiResponse[DataPoint],
    responses=errors(404, 502, 504, stale=DataPoint),
    summary="One point's current value: cache first, read from the device on a miss",
)
async def get_point_data(
    device_id: DeviceId, point_type: PointTypeParam, point_number: PointNumber, services: Viewer
) -> Response:
    ref = PointRef(device_id, point_type, point_number)
    point = await require_point(services, ref)
    values, error, source = await _current(services, [point])
    value = values.get(point.id)
    answer = None if value is None else wire.data_point(point, value)
    if answer is None and error is None:
        error = NotFoundError(f"point {ref} has no value yet: nothing wrote it and no driver reads its device")
    return _answer(services, answer, error, source)


@routes.post(
    "/device/{device_id}/data",
    response_model=ApiResponse[BatchResult],
    responses=errors(404, *WITH_BODY),
    summary="Writes current values of a device's points (history, cache, live updates), all or nothing",
)
async def update_device_data(
    device_id: DeviceId, batch: Annotated[DeviceDataBatch, Body()], services: Ingest, request: Request
) -> Response:
    await services.store.devices.require(device_id)
    if batch.device_id != device_id:
        raise ValidationError(
            f"must be the device of the URL, {device_id}", field="device_id", value=batch.device_id
        )
    now_ms = services.clock()
    samples = []
    for index, item in enumerate(batch.data_points):
        if item.device_id is not None and item.device_id != device_id:
            raise ValidationError(
                f"must be the device of the URL, {device_id}", field="device_id", index=index, value=item.device_id
            )
        ts_ms = now_ms if item.timestamp is None else item.timestamp * 1000
        samples.append(Sample(PointRef(device_id, item.point_type, item.point_number), ts_ms, item.value))
    result = await services.store.writes.record(
        samples, API_SOURCE, audit=Audit(UPDATE_OPERATION, actor_of(request))
    )
    count = len(samples)
    answer = {
        "count": count,
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "message": f"Updated {count} data points for device {device_id}",
    }
    return envelope.ok(answer, DATABASE, services.clock())


async def _current(
    services: Services, points: list[MonitoringPoint]
) -> tuple[dict[int, CurrentValue], T3000Error | None, str]:
    """The points' current values, the first device error met, and where the values came from: `t3000` when
    one of them was read from the device for this request, else `cache`."""
    ids = [point.id for point in points]
    fresh_before = {pid for pid, value in services.cached_values(ids).items() if not value.stale}
    reading = await services.collection.read_current(ids)
    error = next(iter(reading.errors.values()), None)
    read_now = any(pid not in fresh_before and not value.stale for pid, value in reading.values.items())
    return reading.values, error, DEVICE if read_now else CACHE


def _answer(services: Services, data: object, error: T3000Error | None, source: str) -> Response:
    if error is not None:
        return envelope.for_error(
            error, services.clock(), data=data, source=CACHE if data is not None else "error"
        )
    return envelope.ok(data, source, services.clock())
