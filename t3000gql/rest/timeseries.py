"""History (seed 000's "time series operations"): one point's samples or buckets over a range, and a batch of
samples stored through the one write path, all or nothing.

A range is read as GraphQL's `timeseries` reads it (`api.history_reads`): the same checks, the same
API_MAX_HISTORY_SAMPLES budget (a larger range is refused with the interval to ask for instead, or cut at `limit`
with `next_start`), the same SQL. Times are Unix seconds here, epoch milliseconds below.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Query
from starlette.requests import Request
from starlette.responses import Response

from t3000gql.api.history_reads import HistoryArgs, read_history
from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import Aggregate, Sample
from t3000gql.errors import ValidationError
from t3000gql.rest import envelope, wire
from t3000gql.rest.access import Ingest, Viewer, actor_of
from t3000gql.rest.device_data import API_SOURCE, DATABASE, DeviceId, PointNumber, PointTypeParam
from t3000gql.rest.lookups import require_point
from t3000gql.rest.models import (
    I32,
    I32_MAX,
    MAX_UNIX_SECONDS,
    AggregateName,
    ApiResponse,
    BatchResult,
    TimeSeriesDataIn,
    TimeSeriesResponse,
)
from t3000gql.rest.routing import WITH_BODY, errors, router
from t3000gql.storage.write_path import Audit

TimeQuery = Annotated[int, Query(ge=0, lt=MAX_UNIX_SECONDS)]

STORE_OPERATION = "store_time_series"
routes = router()


@routes.get(
    "/timeseries/{device_id}/{point_type}/{point_number}",
    response_model=ApiResponse[TimeSeriesResponse],
    responses=errors(404),
    summary="A point's history in [start_time, end_time), oldest first; buckets when interval_seconds is given",
)
async def get_timeseries_data(
    device_id: DeviceId,
    point_type: PointTypeParam,
    point_number: PointNumber,
    start_time: Annotated[TimeQuery, Query(description="Unix seconds, inclusive.", examples=[1735603200])],
    end_time: Annotated[TimeQuery, Query(description="Unix seconds, exclusive.", examples=[1735689600])],
    services: Viewer,
    interval_seconds: Annotated[int | None, Query(ge=1, le=I32_MAX, description="Bucket width.")] = None,
    trend_log_id: Annotated[I32 | None, Query(description="Only the samples this trend log recorded.")] = None,
    aggregate: Annotated[AggregateName | None, Query(description="Per bucket; avg by default.")] = None,
    limit: Annotated[int | None, Query(ge=1, le=I32_MAX, description="At most this many samples.")] = None,
) -> Response:
    if end_time <= start_time:
        raise ValidationError("must be later than start_time", field="end_time", value=end_time)
    ref = PointRef(device_id, point_type, point_number)
    point = await require_point(services, ref)
    device = await services.store.devices.require(device_id)
    max_samples = services.settings.api_max_history_samples
    args = HistoryArgs.checked(
        start_time * 1000,
        end_time * 1000,
        interval_seconds=interval_seconds,
        aggregate=None if aggregate is None else Aggregate(aggregate),
        trend_log_id=trend_log_id,
        limit=limit,
        max_samples=max_samples,
        names=("start_time", "end_time"),
    )
    series = (await read_history(services.store, [point.id], args, max_samples=max_samples))[point.id]
    if isinstance(series, ValidationError):
        raise series
    data = wire.time_series_data(point, series, trend_log_id)
    answer = {
        "total_points": len(data),
        "start_time": start_time,
        "end_time": end_time,
        "interval_seconds": interval_seconds or 0,
        "device_info": wire.device(device),
        "point_info": wire.monitoring_point(point),
        "data": data,
        "aggregate": None if args.aggregate is None else args.aggregate.value,
        "truncated": series.truncated,
        "next_start": wire.seconds(series.next_start),
    }
    return envelope.ok(answer, DATABASE, services.clock())


@routes.post(
    "/timeseries/batch",
    response_model=ApiResponse[BatchResult],
    responses=errors(*WITH_BODY),
    summary="Stores history samples (typically from a collector), all or nothing",
)
async def store_timeseries_batch(
    samples: Annotated[list[TimeSeriesDataIn], Body()], services: Ingest, request: Request
) -> Response:
    given = [
        Sample(
            PointRef(item.device_id, item.point_type, item.point_number),
            item.timestamp * 1000,
            item.value,
            trend_log_id=item.trend_log_id,
        )
        for item in samples
    ]
    result = await services.store.writes.record(
        given, API_SOURCE, audit=Audit(STORE_OPERATION, actor_of(request), per_device=True)
    )
    count = len(given)
    answer = {
        "count": count,
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "message": f"Stored {count} time series data points",
    }
    return envelope.ok(answer, DATABASE, services.clock())
