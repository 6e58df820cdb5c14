"""The GraphQL object types over stored things. Each is built from a storage record; nested fields go through
the request's DataLoaders, so a nested query costs a fixed number of statements, not one per parent."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from t3000gql.api import ids
from t3000gql.api.context import Info
from t3000gql.api.enums import Aggregate, AutoManual, DataSource, DeviceProtocol, PointDataType, PointType
from t3000gql.api.faults import PointFailure, RefreshError
from t3000gql.api.history_reads import HistoryArgs
from t3000gql.api.loaders import HistoryKey, PointsOf
from t3000gql.api.mapping import from_attributes
from t3000gql.api.sample_quality import SampleQualities, SampleQuality, selects
from t3000gql.api.scalars import FloatColumn, QualityColumn, TimestampColumn
from t3000gql.domain.faults import Fault, PointFault
from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import CurrentValue
from t3000gql.domain.timeutil import to_datetime
from t3000gql.storage import records
from t3000gql.storage.cache import CacheStats as CacheStatsRecord
from t3000gql.storage.history import Series


@lru_cache(maxsize=4096)
def _record_time(ts_ms: int) -> datetime:
    """A record's created/updated time: points registered together share it, so 100,000 points listed are a
    handful of conversions, not 200,000 (datetimes are immutable: sharing them is safe)."""
    return to_datetime(ts_ms)


def _when(ts_ms: int | None) -> datetime | None:
    return None if ts_ms is None else to_datetime(ts_ms)


@strawberry.type(description="A controller (or station), known by its own device id.")
class Device(relay.Node):
    device_id: int
    device_name: str
    device_type: str
    ip_address: str | None
    port: int | None
    protocol: DeviceProtocol
    modbus_unit_id: int | None
    bacnet_instance: int | None
    options: JSON = strawberry.field(description="Protocol settings, e.g. a register map.")
    is_active: bool
    online: bool | None = strawberry.field(description="null until the server has tried to reach it.")
    last_seen: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, device: records.Device) -> Device:
        return cls(
            device_id=device.device_id,
            device_name=device.device_name,
            device_type=device.device_type,
            ip_address=device.ip_address,
            port=device.port,
            protocol=DeviceProtocol(device.protocol),
            modbus_unit_id=device.modbus_unit_id,
            bacnet_instance=device.bacnet_instance,
            options=JSON(device.options),
            is_active=device.is_active,
            online=device.online,
            last_seen=_when(device.last_seen),
            created_at=to_datetime(device.created_at),
            updated_at=to_datetime(device.updated_at),
        )

    @classmethod
    def resolve_id(cls, root: Device, *, info: Info) -> str:
        return ids.int_key(root.device_id)

    @strawberry.field(description="The device's points, by type and number.")
    async def points(
        self, info: Info, point_type: PointType | None = None, is_active: bool | None = None
    ) -> list[MonitoringPoint]:
        listed = await info.context.loaders.points_of.load(PointsOf(self.device_id, point_type, is_active))
        return [MonitoringPoint.from_record(point) for point in listed]

    @strawberry.field(description="One point of the device.")
    async def point(self, info: Info, point_type: PointType, point_number: int) -> MonitoringPoint | None:
        point = await info.context.require_point(PointRef(self.device_id, point_type, point_number))
        return MonitoringPoint.from_record(point)

    @strawberry.field
    async def trend_logs(self, info: Info) -> list[TrendLog]:
        return [TrendLog.from_record(log) for log in await info.context.loaders.trend_logs_of.load(self.device_id)]

    @strawberry.field(
        description="The current values of the device's points with cache statistics, cache first: stale "
        "ones are read from the device in one batch. A point the device gave no value for keeps its last value "
        "(stale, with its refreshError), or is listed in failedPoints when it has none; one failing point never "
        "hides the others."
    )
    async def data(self, info: Info) -> DeviceData:
        listed = await info.context.loaders.points_of.load(PointsOf(self.device_id))
        point_ids = [record.id for record in listed]
        reads = await info.context.loaders.current.load_many(point_ids)
        values = []
        failed = []
        for record, (value, _, fault) in zip(listed, reads, strict=True):
            if value is not None:
                values.append(PointValue.of(MonitoringPoint.from_record(record), value, fault))
            elif fault is not None:
                failed.append(PointFailure.of(PointFault(record.ref, fault)))
        return DeviceData(
            device_id=self.device_id,
            points=values,
            failed_points=failed,
            last_updated=_when(max((value.ts_ms for value in values), default=None)),
            cache_stats=CacheStats.from_record(info.context.store.cache.stats(point_ids)),
        )


@strawberry.type(description="A point of a device: an input, output, variable, ... with its metadata.")
class MonitoringPoint(relay.Node):
    point_id: strawberry.Private[int]
    device_id: int
    point_type: PointType
    point_number: int
    point_name: str | None
    description: str | None
    unit_code: int | None = strawberry.field(description="T3000 range code (1 degC, 22 %, 101.. digital).")
    unit_symbol: str | None
    data_type: PointDataType
    is_active: bool
    options: JSON
    created_at: datetime
    updated_at: datetime
    writable: bool = strawberry.field(
        description="Whether writePointValue may command it (outputs and variables by default, inputs not)."
    )
    min_value: float | None = strawberry.field(description="The lowest value a command may set; null: no limit.")
    max_value: float | None = strawberry.field(description="The highest value a command may set; null: no limit.")

    @classmethod
    def from_record(cls, point: records.MonitoringPoint) -> MonitoringPoint:
        return cls(
            point_id=point.id,
            device_id=point.device_id,
            point_type=point.point_type,
            point_number=point.point_number,
            point_name=point.point_name,
            description=point.description,
            unit_code=point.unit_code,
            unit_symbol=point.unit_symbol,
            data_type=PointDataType(point.data_type),
            is_active=point.is_active,
            options=JSON(point.options),
            created_at=_record_time(point.created_at),
            updated_at=_record_time(point.updated_at),
            writable=point.writable,
            min_value=point.min_value,
            max_value=point.max_value,
        )

    @classmethod
    def resolve_id(cls, root: MonitoringPoint, *, info: Info) -> str:
        return ids.point_key(root.device_id, root.point_type, root.point_number)

    @strawberry.field(
        description="BACnet: the 16 slots of the object's priority array, read from the device now (index 0 is "
        "priority 1; null an empty slot). Null for points without one (inputs, other protocols)."
    )
    async def priority_array(self, info: Info) -> list[float | None] | None:
        state = await info.context.loaders.command_state.load(self._ref)
        return None if state is None or state.priority_array is None else list(state.priority_array)

    @strawberry.field(
        description="T3 (Modbus, T3 map): the point's auto/manual switch, read from the device now; "
        "writePointValue sets MANUAL, releasePointValue AUTO. Null for points without one."
    )
    async def auto_manual(self, info: Info) -> AutoManual | None:
        state = await info.context.loaders.command_state.load(self._ref)
        if state is None or state.manual is None:
            return None
        return AutoManual.MANUAL if state.manual else AutoManual.AUTO

    @property
    def _ref(self) -> PointRef:
        return PointRef(self.device_id, self.point_type, self.point_number)

    @strawberry.field
    async def device(self, info: Info) -> Device:
        return Device.from_record(await info.context.require_device(self.device_id))

    @strawberry.field(
        description="The current value, cache first: a stale or missing one is read from the device (once for "
        "all readers, waiting at most T3000_INTERFACE_TIMEOUT). If the device gives no value, the last value "
        "comes back with stale: true and its refreshError (no GraphQL error). With no value known at all, the "
        "field is null and the error (DEVICE_TIMEOUT, DEVICE_OFFLINE, DEVICE_ERROR) is in the response's errors."
    )
    def current(self, info: Info) -> PointValue | None:
        # A fresh cached value is answered at once; graphql-core awaits what is returned otherwise. For 100,000
        # points the wait (a future and a task per point, then one batch that finds them all in the cache
        # anyway) was most of the query.
        fresh = info.context.services.collection.read_fresh(self.point_id)
        if fresh is not None:
            return PointValue.of(self, fresh)
        return self._current(info)  # type: ignore[return-value]  # awaited by graphql-core

    async def _current(self, info: Info) -> PointValue | None:
        value, error, fault = await info.context.loaders.current.load(self.point_id)
        if value is None:
            if error is not None:
                raise error
            return None
        return PointValue.of(self, value, fault)

    @strawberry.field(description="Samples in [start, end), oldest first; buckets when intervalSeconds is given.")
    async def history(
        self,
        info: Info,
        start: datetime,
        end: datetime,
        interval_seconds: int | None = None,
        aggregate: Aggregate | None = None,
        trend_log_id: int | None = None,
        limit: int | None = None,
    ) -> TimeSeries | None:
        context = info.context
        args = HistoryArgs.checked(
            context.epoch_ms(start),
            context.epoch_ms(end),
            interval_seconds=interval_seconds,
            aggregate=aggregate,
            trend_log_id=trend_log_id,
            limit=limit,
            max_samples=context.settings.api_max_history_samples,
        )
        series = await context.loaders.history.load(HistoryKey(self.point_id, args))
        return TimeSeries.of(self, args, series)


@strawberry.type(description="A value of a point at a time, as the cache holds it.")
class PointValue:
    point: MonitoringPoint
    point_type: PointType
    point_number: int
    value: float
    timestamp: datetime
    stale: bool = strawberry.field(description="Older than CACHE_DURATION_SECONDS.")
    source: DataSource = strawberry.field(description="Who wrote it.")
    ts_ms: strawberry.Private[int]
    refresh_error: RefreshError | None = strawberry.field(
        default=None,
        description="Why this stale value could not be refreshed from the device just now; null when it did "
        "not need to be, or was.",
    )

    @classmethod
    def of(cls, point: MonitoringPoint, current: CurrentValue, fault: Fault | None = None) -> PointValue:
        return cls(
            point=point,
            point_type=point.point_type,
            point_number=point.point_number,
            value=current.value,
            timestamp=to_datetime(current.ts_ms),
            stale=current.stale,
            source=DataSource.of(current.source),
            ts_ms=current.ts_ms,
            refresh_error=None if fault is None else RefreshError.of(fault),
        )


@strawberry.type(description="The cached values of a device (T3000's DeviceDataResponse).")
class DeviceData:
    device_id: int
    points: list[PointValue]
    failed_points: list[PointFailure] = strawberry.field(
        description="Points with no value at all that the device could not give one for just now, with why."
    )
    last_updated: datetime | None = strawberry.field(description="The time of the newest value.")
    cache_stats: CacheStats


@strawberry.type
class CacheStats:
    total_points: int
    fresh_points: int
    stale_points: int
    cache_hit_rate: float = strawberry.field(description="Share of lookups answered fresh since start (0..1).")
    hits: int
    misses: int

    @classmethod
    def from_record(cls, stats: CacheStatsRecord) -> CacheStats:
        return from_attributes(cls, stats)


@strawberry.type(description="A trend log (T3000 monitor): which points a device samples and how often.")
class TrendLog(relay.Node):
    trend_log_id: int = strawberry.field(description="The number that trendLog, collectNow, ... take.")
    device_id: int
    trend_log_name: str
    interval_seconds: int
    max_points: int
    is_active: bool
    last_collected: datetime | None
    created_at: datetime
    updated_at: datetime
    point_ids: strawberry.Private[tuple[int, ...]]

    @classmethod
    def from_record(cls, log: records.TrendLog) -> TrendLog:
        return cls(
            trend_log_id=log.id,
            device_id=log.device_id,
            trend_log_name=log.trend_log_name,
            interval_seconds=log.interval_seconds,
            max_points=log.max_points,
            is_active=log.is_active,
            last_collected=_when(log.last_collected),
            created_at=to_datetime(log.created_at),
            updated_at=to_datetime(log.updated_at),
            point_ids=log.point_ids,
        )

    @classmethod
    def resolve_id(cls, root: TrendLog, *, info: Info) -> str:
        return ids.int_key(root.trend_log_id)

    @strawberry.field
    async def device(self, info: Info) -> Device:
        return Device.from_record(await info.context.require_device(self.device_id))

    @strawberry.field(description="The sampled points in slot order.")
    async def points(self, info: Info) -> list[MonitoringPoint]:
        found = await info.context.loaders.point_by_id.load_many(self.point_ids)
        return [MonitoringPoint.from_record(point) for point in found if point is not None]


@strawberry.type(description="One sample (or bucket) of a time series.")
class TimeSeriesSample:
    timestamp: datetime
    value: float
    quality: SampleQuality = strawberry.field(
        default=SampleQuality.GOOD,  # filled in by TimeSeries.points when a query selects it
        description="How far the sample can be trusted, computed when read (docs/quality.md): BAD outside the "
        "point's minValue..maxValue, UNCERTAIN in a spike or flatline or a counter going backwards. A bucket is "
        "BAD when its value (AVG, MIN, MAX, FIRST, LAST) lies outside the range. Costs one more read; ask only "
        "when shown.",
    )


@strawberry.type(description="A time series as two parallel columns: the fast way to move many samples.")
class TimeSeriesColumns:
    timestamps: TimestampColumn
    values: FloatColumn
    qualities: strawberry.Private[SampleQualities]

    @strawberry.field(description="Each sample's quality (GOOD, UNCERTAIN, BAD; see TimeSeriesSample.quality).")
    async def quality(self, info: Info) -> QualityColumn:
        return QualityColumn([quality.name for quality in await self.qualities.get(info.context)])


@strawberry.type(description="Samples of one point in [start, end), oldest first.")
class TimeSeries:
    point: MonitoringPoint
    total_points: int = strawberry.field(description="How many samples (or buckets) this answer holds.")
    start: datetime
    end: datetime
    interval_seconds: int | None = strawberry.field(description="Bucket width; null for raw samples.")
    aggregate: Aggregate | None
    truncated: bool = strawberry.field(description="The range holds more than `limit`: continue at nextStart.")
    next_start: datetime | None = strawberry.field(description="Where the next page starts when truncated.")
    series: strawberry.Private[Series]
    qualities: strawberry.Private[SampleQualities]

    @classmethod
    def of(cls, point: MonitoringPoint, args: HistoryArgs, series: Series) -> TimeSeries:
        return cls(
            point=point,
            total_points=len(series.timestamps),
            start=to_datetime(args.start_ms),
            end=to_datetime(args.end_ms),
            interval_seconds=args.interval_seconds,
            aggregate=args.aggregate,
            truncated=series.truncated,
            next_start=_when(series.next_start),
            series=series,
            qualities=SampleQualities(point, args, series),
        )

    @strawberry.field(description="One object per sample: handy for a few hundred, slow for 100,000.")
    def points(self, info: Info) -> list[TimeSeriesSample]:
        # A plain function, so the common answer (no quality) completes as before; with quality it returns a
        # coroutine, which graphql-core awaits like an async resolver's result.
        stamps, values = self.series.timestamps, self.series.values
        if selects(info, "quality"):
            return cast(list[TimeSeriesSample], self._points_with_quality(info))
        return [
            TimeSeriesSample(timestamp=to_datetime(ts), value=value)
            for ts, value in zip(stamps, values, strict=True)
        ]

    async def _points_with_quality(self, info: Info) -> list[TimeSeriesSample]:
        qualities = await self.qualities.get(info.context)
        return [
            TimeSeriesSample(timestamp=to_datetime(ts), value=value, quality=quality)
            for ts, value, quality in zip(self.series.timestamps, self.series.values, qualities, strict=True)
        ]

    @strawberry.field(description="Epoch-ms timestamps and values as two lists: for charts and bulk reads.")
    def columns(self) -> TimeSeriesColumns:
        return TimeSeriesColumns(
            timestamps=TimestampColumn(self.series.timestamps),
            values=FloatColumn(self.series.values),
            qualities=self.qualities,
        )


@strawberry.type(description="What a batch write did: samples new to history, and those that changed a value.")
class WriteCounts:
    inserted: int
    updated: int
    unchanged: int = strawberry.field(description="Already stored with the same value (or repeated).")


@strawberry.type
class UpsertPointsResult:
    inserted: int
    updated: int
    points: list[MonitoringPoint] = strawberry.field(description="The points as stored, in the order given.")
