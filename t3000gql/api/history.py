"""History: one point's time series, many points for one chart, and storing samples in bulk."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from t3000gql.api.access import needs
from t3000gql.api.context import Info
from t3000gql.api.enums import Aggregate, PointType
from t3000gql.api.history_reads import HistoryArgs, read_history, too_many
from t3000gql.api.inputs import PointRefInput, TimeSeriesSampleInput
from t3000gql.api.limits import MAX_WRITE_SAMPLES, check_count
from t3000gql.api.loaders import HistoryKey
from t3000gql.api.points import API_SOURCE
from t3000gql.api.types import MonitoringPoint, TimeSeries, WriteCounts
from t3000gql.auth import Role
from t3000gql.domain.points import PointRef
from t3000gql.errors import NotFoundError, ValidationError
from t3000gql.storage.history import Series
from t3000gql.storage.write_path import Audit

MAX_SERIES_POINTS = 1000
STORE_OPERATION = "store_time_series"


@strawberry.type
class HistoryQueries:
    @strawberry.field(
        description="Samples of one point in [startTime, endTime), oldest first (T3000's timeseries query); "
        "buckets when intervalSeconds is given (aggregate defaults to AVG)."
    )
    async def timeseries(
        self,
        info: Info,
        device_id: int,
        point_type: PointType,
        point_number: int,
        start_time: datetime,
        end_time: datetime,
        interval_seconds: int | None = None,
        trend_log_id: int | None = None,
        aggregate: Aggregate | None = None,
        limit: int | None = None,
    ) -> TimeSeries | None:
        context = info.context
        args = HistoryArgs.checked(
            context.epoch_ms(start_time),
            context.epoch_ms(end_time),
            interval_seconds=interval_seconds,
            aggregate=aggregate,
            trend_log_id=trend_log_id,
            limit=limit,
            max_samples=context.settings.api_max_history_samples,
            names=("startTime", "endTime"),
        )
        point = MonitoringPoint.from_record(
            await context.require_point(PointRef(device_id, point_type, point_number))
        )
        series = await context.loaders.history.load(HistoryKey(point.point_id, args))
        return TimeSeries.of(point, args, series)

    @strawberry.field(
        description="Many points over one range for one chart, in the order asked; an unknown point is null "
        "with a NOT_FOUND error (at most 1,000 points). `limit` applies per point; all points together, with "
        "the request's other history fields, stay within API_MAX_HISTORY_SAMPLES."
    )
    async def series(
        self,
        info: Info,
        points: list[PointRefInput],
        start: datetime,
        end: datetime,
        interval_seconds: int | None = None,
        aggregate: Aggregate | None = None,
        limit: int | None = None,
    ) -> list[TimeSeries | None] | None:
        context = info.context
        max_samples = context.settings.api_max_history_samples
        if len(points) > MAX_SERIES_POINTS:
            raise ValidationError(f"has more than {MAX_SERIES_POINTS} points", field="points", value=len(points))
        args = HistoryArgs.checked(
            context.epoch_ms(start),
            context.epoch_ms(end),
            interval_seconds=interval_seconds,
            aggregate=aggregate,
            trend_log_id=None,
            limit=limit,
            max_samples=max_samples,
        )
        refs = [point.to_ref() for point in points]
        records = await context.loaders.point_by_ref.load_many(refs)
        point_ids = list(dict.fromkeys(record.id for record in records if record is not None))
        found = await read_history(context.store, point_ids, args, max_samples=max_samples)
        series_of: dict[int, Series] = {}
        for point_id, series in found.items():
            if not isinstance(series, Series):
                raise series
            series_of[point_id] = series
        if not context.history_budget.spend(sum(len(series.timestamps) for series in series_of.values())):
            raise too_many(args, max_samples, scope="for these points together, with this request's other history")
        answers: list[Any] = []
        for ref, record in zip(refs, records, strict=True):
            if record is None:  # graphql-core makes an exception in a list null plus an error at its index
                answers.append(NotFoundError(f"point {ref} does not exist"))
            else:
                answers.append(TimeSeries.of(MonitoringPoint.from_record(record), args, series_of[record.id]))
        return answers


@strawberry.type
class HistoryMutations:
    @strawberry.mutation(
        description="Stores history samples (T3000's timeseries batch) through the write path, all or nothing: "
        "a bad sample is named by its index and nothing is written (at most 100,000 a request; a sample more "
        "than MAX_CLOCK_SKEW_SECONDS in the future is bad). A repeated point and time keeps the last value. "
        "Needs the ingest role; audited once per device (how many samples, over which time).",
        extensions=needs(Role.INGEST),
    )
    async def store_time_series(self, info: Info, samples: list[TimeSeriesSampleInput]) -> WriteCounts | None:
        check_count(samples, MAX_WRITE_SAMPLES, "samples")
        given = [sample.to_sample(info.context) for sample in samples]
        audit = Audit(STORE_OPERATION, info.context.actor, per_device=True)
        result = await info.context.store.writes.record(given, API_SOURCE, audit=audit)
        return WriteCounts(inserted=result.inserted, updated=result.updated, unchanged=result.unchanged)
