"""Reading power readings back: pages of rows, the latest reading, per-channel series and interval aggregates.

Rows come from the `power_readings` index pivoted with the channel values; series and aggregates come straight
from the shared history read path over the station's channel points, so they cost what any history read costs.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field

from t3000gql.domain.samples import Aggregate
from t3000gql.domain.stations import CHANNEL_FIELDS, ChannelValues, channel_refs
from t3000gql.errors import ValidationError
from t3000gql.live.bus import LiveBus
from t3000gql.storage.history import Series
from t3000gql.storage.power_readings import ReadingQuery, StoredReading
from t3000gql.storage.stations import Station
from t3000gql.storage.store import Store

BUCKET_AGGREGATES = (Aggregate.AVG, Aggregate.MIN, Aggregate.MAX, Aggregate.COUNT)


@dataclass(frozen=True, slots=True)
class PowerReading:
    station: Station
    ts_ms: int
    created_at: int
    source: str
    flags: int
    values: ChannelValues

    def value(self, channel_field: str) -> float | None:
        return self.values[CHANNEL_FIELDS.index(channel_field)]

    @property
    def flagged_channels(self) -> list[str]:
        return [name for position, name in enumerate(CHANNEL_FIELDS) if self.flags >> position & 1]


@dataclass(frozen=True, slots=True)
class ReadingFilter:
    """The seed's QueryFilters: a station by id or name (or all), a half-open time range, order and paging."""

    station_id: int | None = None
    station_name: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    limit: int = 100
    offset: int = 0
    order_by: str = "timestamp"
    descending: bool = False


@dataclass(slots=True)
class ChannelBuckets:
    """One channel's buckets: `avg[i]`, `min[i]`, `max[i]`, `count[i]` belong to bucket i; None: no value there."""

    avg: list[float | None] = field(default_factory=list)
    min: list[float | None] = field(default_factory=list)
    max: list[float | None] = field(default_factory=list)
    count: list[int] = field(default_factory=list)


@dataclass(slots=True)
class ReadingBuckets:
    station: Station
    interval_seconds: int
    bucket_starts: list[int]
    channels: dict[str, ChannelBuckets]


class ReadingReader:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def _channel_map(self, stations: Sequence[Station]) -> dict[int, tuple[int, int]]:
        refs = {
            ref: (station.device_id, position) for station in stations for position, ref in enumerate(station.refs)
        }
        ids = await self.store.points.resolve(refs)
        return {pid: refs[ref] for ref, pid in ids.items()}

    async def _stations(self, wanted: ReadingFilter) -> list[Station]:
        if wanted.station_id is not None or wanted.station_name is not None:
            if wanted.station_id is not None and wanted.station_name is not None:
                raise ValidationError(
                    "give station_id or station_name, not both",
                    field="filter",
                    mentions=("station_id", "station_name"),
                )
            station = await self.store.stations.get(device_id=wanted.station_id, name=wanted.station_name)
            return [station] if station is not None else []
        return await self.store.stations.list()

    def _query(self, wanted: ReadingFilter, stations: Sequence[Station]) -> ReadingQuery:
        device_ids = (
            tuple(s.device_id for s in stations)
            if wanted.station_id is not None or wanted.station_name is not None
            else None
        )
        return ReadingQuery(
            device_ids=device_ids,
            start_ms=wanted.start_ms,
            end_ms=wanted.end_ms,
            limit=wanted.limit,
            offset=wanted.offset,
            order_by=wanted.order_by,
            descending=wanted.descending,
        )

    async def readings(self, wanted: ReadingFilter) -> list[PowerReading]:
        """A page of readings; an unknown station gives an empty page (a filter that matches nothing)."""
        stations = await self._stations(wanted)
        query = self._query(wanted, stations)
        if query.device_ids == ():
            return []
        found = await self.store.power_readings.find(query, await self._channel_map(stations))
        return _readings(found, stations)

    async def count(self, wanted: ReadingFilter) -> int:
        stations = await self._stations(wanted)
        query = self._query(wanted, stations)
        return 0 if query.device_ids == () else await self.store.power_readings.count(query)

    async def latest(self, stations: Sequence[Station]) -> dict[int, PowerReading]:
        """The newest reading of each station (by timestamp); stations without readings are left out."""
        found = await self.store.power_readings.latest(
            [s.device_id for s in stations], await self._channel_map(stations)
        )
        return {reading.station.device_id: reading for reading in _readings(list(found.values()), stations)}

    async def at(self, station: Station, stamps: Sequence[int]) -> list[PowerReading]:
        """The station's readings at exactly these timestamps (what the live feed asks for), oldest first."""
        found = await self.store.power_readings.at(station.device_id, stamps, await self._channel_map([station]))
        return _readings(found, [station])

    async def series(
        self, station: Station, start_ms: int, end_ms: int, *, limit: int | None = None
    ) -> dict[str, Series]:
        """Each channel's samples in [start, end) as parallel lists (the columnar shape charts want)."""
        ids = await self.store.points.resolve(station.refs)
        by_field = {name: ids[ref] for name, ref in zip(CHANNEL_FIELDS, station.refs, strict=True) if ref in ids}
        series = await self.store.history.read_range(list(by_field.values()), start_ms, end_ms, limit=limit)
        return {name: series[pid] for name, pid in by_field.items()}

    async def aggregate(
        self, station: Station, start_ms: int, end_ms: int, interval_seconds: int
    ) -> ReadingBuckets:
        """avg/min/max/count per channel in `interval_seconds` buckets aligned to the epoch; every channel lists
        every bucket that any channel has (None where that channel had no value)."""
        refs = channel_refs(station.device_id)
        ids = await self.store.points.resolve(refs)
        by_field = {name: ids[ref] for name, ref in zip(CHANNEL_FIELDS, refs, strict=True) if ref in ids}
        found = await self.store.history.aggregate(
            list(by_field.values()), start_ms, end_ms, interval_seconds, BUCKET_AGGREGATES
        )
        starts = sorted({start for series in found.values() for start in series.bucket_starts})
        channels: dict[str, ChannelBuckets] = {}
        for name in CHANNEL_FIELDS:
            buckets = ChannelBuckets()
            pid = by_field.get(name)
            series = found.get(pid) if pid is not None else None
            at = {start: i for i, start in enumerate(series.bucket_starts)} if series is not None else {}
            for start in starts:
                i = at.get(start)
                if series is None or i is None:
                    buckets.avg.append(None)
                    buckets.min.append(None)
                    buckets.max.append(None)
                    buckets.count.append(0)
                    continue
                buckets.avg.append(series.values[Aggregate.AVG][i])
                buckets.min.append(series.values[Aggregate.MIN][i])
                buckets.max.append(series.values[Aggregate.MAX][i])
                buckets.count.append(int(series.values[Aggregate.COUNT][i]))
            channels[name] = buckets
        return ReadingBuckets(station, interval_seconds, starts, channels)


def _readings(found: Sequence[StoredReading], stations: Sequence[Station]) -> list[PowerReading]:
    by_id = {station.device_id: station for station in stations}
    return [
        PowerReading(by_id[r.device_id], r.ts_ms, r.created_at, r.source, r.flags, r.values)
        for r in found
        if r.device_id in by_id
    ]


async def new_readings(
    live: LiveBus, reader: ReadingReader, station: Station
) -> AsyncGenerator[PowerReading, None]:
    """Each reading of the station as it is stored (new, or changed), until the caller stops or the bus stops.

    The bus carries point values, not readings: a wake-up collects the timestamps of every change waiting for the
    station's points and reads those readings whole (values, createdAt, source). The changes of one reading can
    arrive in two wake-ups; a reading equal to one just sent is not sent again. A client that reads too slowly
    gets the latest values the bus kept for it (see t3000gql.live), so it may miss intermediate readings.
    """
    last_sent: dict[int, ChannelValues] = {}
    with live.watch_points(device_ids=[station.device_id]) as subscriber:
        async for change in subscriber:
            stamps = dict.fromkeys([change.ts_ms, *(c.ts_ms for c in subscriber.drain())])
            sent: dict[int, ChannelValues] = {}
            for reading in await reader.at(station, list(stamps)):
                if last_sent.get(reading.ts_ms) != reading.values:
                    yield reading
                sent[reading.ts_ms] = reading.values
            last_sent = sent
