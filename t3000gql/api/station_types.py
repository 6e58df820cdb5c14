"""GraphQL types of power stations (seed 004): stations, their live connection, readings, buckets, inputs.

A `PowerReading` is the station's ten channel points pivoted at one timestamp; a channel without a value at
that time is null. Readings list the channels as fields (the seed's shape), buckets give avg/min/max/count per
channel, and `Station.series` gives every channel as columns (the fast shape for charts).
"""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry import relay

from t3000gql.api import ids
from t3000gql.api.access import is_admin
from t3000gql.api.context import Info
from t3000gql.api.enums import ChannelField, ChannelUnit, DataSource, PointType
from t3000gql.api.history_reads import HistoryArgs
from t3000gql.api.mapping import from_attributes
from t3000gql.api.sample_quality import SampleQualities
from t3000gql.api.scalars import FloatColumn, TimestampColumn
from t3000gql.api.types import Device, TimeSeriesColumns
from t3000gql.domain import stations as domain
from t3000gql.domain.timeutil import to_datetime
from t3000gql.errors import ValidationError
from t3000gql.ingest import readings
from t3000gql.ingest.station_client import StationLink
from t3000gql.ingest.stations import FlaggedValue as FlaggedRecord
from t3000gql.ingest.stations import RecordOutcome
from t3000gql.storage.stations import Station as StationRecord


def _when(ts_ms: int | None) -> datetime | None:
    return None if ts_ms is None else to_datetime(ts_ms)


@strawberry.enum(description="Where a station's live WebSocket connection stands.")
class StationConnectionState(enum.Enum):
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    BACKOFF = "BACKOFF"
    STOPPED = "STOPPED"


@strawberry.type(description="A station's live WebSocket connection, as the station monitor sees it.")
class StationConnection:
    url: str
    state: StationConnectionState
    since: datetime = strawberry.field(description="When the state last changed.")
    error: strawberry.Private[str | None]
    failures: int = strawberry.field(description="Failed attempts since the last successful connect.")
    connects: int
    received: int = strawberry.field(description="Readings received on this connection since the server started.")
    rejected: int = strawberry.field(description="Messages or readings refused (bad JSON, out of range, ...).")
    last_reading_at: datetime | None
    retry_at: datetime | None = strawberry.field(description="Next attempt, while in BACKOFF.")

    @classmethod
    def from_link(cls, link: StationLink) -> StationConnection:
        return from_attributes(
            cls,
            link,
            state=StationConnectionState(link.state),
            since=to_datetime(link.since_ms),
            last_reading_at=_when(link.last_reading_ms),
            retry_at=_when(link.retry_at_ms),
            error=link.last_error,
        )

    @strawberry.field(
        description="Why the last attempt failed; for admins only (null for others): it names addresses and "
        "ports, which nobody who cannot configure stations should be able to probe through it."
    )
    def last_error(self, info: Info) -> str | None:
        return self.error if is_admin(info.context) else None


@strawberry.type(description="One channel of a station and the point that holds its values.")
class StationChannel:
    field: ChannelField
    name: str = strawberry.field(
        description="Display name (the point's name; muxPower1..4: TV5, MCOT, PRD, TPBS)."
    )
    point_type: PointType
    point_number: int
    unit: ChannelUnit


@strawberry.type(description="One channel's samples in a range, as columns.")
class StationChannelSeries:
    field: ChannelField
    name: str
    columns: TimeSeriesColumns
    truncated: bool


@strawberry.type(description="A power-monitoring station: a device of type power_station with ten channels.")
class Station(relay.Node):
    device_id: int = strawberry.field(description="The station's device id (allocated from 4000000 upwards).")
    name: str
    uuid: str
    ip_address: str | None
    scene: str
    websocket_url: str | None = strawberry.field(description="Where the live monitor connects; null: no monitor.")
    created_at: datetime
    updated_at: datetime
    record: strawberry.Private[StationRecord]

    @classmethod
    def from_record(cls, station: StationRecord) -> Station:
        return cls(
            device_id=station.device_id,
            name=station.name,
            uuid=station.uuid,
            ip_address=station.ip_address,
            scene=station.scene,
            websocket_url=station.websocket_url,
            created_at=to_datetime(station.created_at),
            updated_at=to_datetime(station.updated_at),
            record=station,
        )

    @classmethod
    def resolve_id(cls, root: Station, *, info: Info) -> str:
        return ids.int_key(root.device_id)

    @strawberry.field
    def channels(self) -> list[StationChannel]:
        return [
            StationChannel(
                field=ChannelField(channel.field),
                name=name,
                point_type=channel.point_type,
                point_number=channel.point_number,
                unit=ChannelUnit.kWh if channel.is_energy else ChannelUnit.W,
            )
            for channel, name in zip(domain.CHANNELS, self.record.channel_names, strict=True)
        ]

    @strawberry.field(description="The device row behind the station.")
    async def device(self, info: Info) -> Device:
        return Device.from_record(await info.context.require_device(self.device_id))

    @strawberry.field(description="The live connection; null when the station has no URL or the monitor is off.")
    def connection(self, info: Info) -> StationConnection | None:
        monitor = info.context.services.monitor
        link = monitor.link(self.device_id) if monitor is not None else None
        if link is None or self.websocket_url is None:
            return None
        return StationConnection.from_link(link)

    @strawberry.field(description="The newest reading by timestamp; null when there is none.")
    async def latest_reading(self, info: Info) -> PowerReading | None:
        reading = await info.context.loaders.latest_reading.load(self.record)
        return None if reading is None else PowerReading.from_reading(reading)

    @strawberry.field(description="Every channel's samples in [startDate, endDate) as columns, oldest first.")
    async def series(
        self, info: Info, start_date: datetime, end_date: datetime, limit: int | None = None
    ) -> list[StationChannelSeries]:
        context = info.context
        budget = context.history_budget
        cap = max(1, min(limit, budget.remaining) if limit is not None else budget.remaining)
        found = await context.services.readings.series(
            self.record, context.epoch_ms(start_date), context.epoch_ms(end_date), limit=cap
        )
        cut = limit is None and any(series.truncated for series in found.values())
        if cut or not budget.spend(sum(len(series.timestamps) for series in found.values())):
            raise ValidationError(
                f"the range holds more samples than this request may still read ({budget.remaining} of "
                f"API_MAX_HISTORY_SAMPLES={budget.total}): give a limit, a shorter range, or use "
                "powerReadingBuckets",
                field="limit",
                value=limit,
            )
        names = dict(zip(domain.CHANNEL_FIELDS, self.record.channel_names, strict=True))
        refs = dict(zip(domain.CHANNEL_FIELDS, self.record.refs, strict=True))
        args = HistoryArgs(context.epoch_ms(start_date), context.epoch_ms(end_date), limit=limit)
        return [
            StationChannelSeries(
                field=ChannelField(field),
                name=names[field],
                columns=TimeSeriesColumns(
                    timestamps=TimestampColumn(series.timestamps),
                    values=FloatColumn(series.values),
                    qualities=SampleQualities(refs[field], args, series),
                ),
                truncated=series.truncated,
            )
            for field, series in found.items()
        ]


@strawberry.type(description="A station's channels at one timestamp; null where a channel has no value then.")
class PowerReading(relay.Node):
    station: Station
    timestamp: datetime
    active_power1: float | None
    active_power2: float | None
    active_power3: float | None
    active_power4: float | None
    active_power5: float | None
    active_power6: float | None
    mux_power1: float | None
    mux_power2: float | None
    mux_power3: float | None
    mux_power4: float | None
    created_at: datetime = strawberry.field(description="When the reading was first stored.")
    source: DataSource = strawberry.field(description="Who stored it last.")
    flagged_channels: list[ChannelField] = strawberry.field(
        description="Energy counters that went backwards here: stored with quality UNCERTAIN."
    )
    ts_ms: strawberry.Private[int]

    @classmethod
    def from_reading(cls, reading: readings.PowerReading) -> PowerReading:
        v = reading.values
        return cls(
            station=Station.from_record(reading.station),
            timestamp=to_datetime(reading.ts_ms),
            active_power1=v[0],
            active_power2=v[1],
            active_power3=v[2],
            active_power4=v[3],
            active_power5=v[4],
            active_power6=v[5],
            mux_power1=v[6],
            mux_power2=v[7],
            mux_power3=v[8],
            mux_power4=v[9],
            created_at=to_datetime(reading.created_at),
            source=DataSource.of(reading.source),
            flagged_channels=[ChannelField(field) for field in reading.flagged_channels],
            ts_ms=reading.ts_ms,
        )

    @classmethod
    def resolve_id(cls, root: PowerReading, *, info: Info) -> str:
        return ids.reading_key(root.station.device_id, root.ts_ms)


@strawberry.type(description="One channel in one bucket.")
class ChannelStats:
    avg: float
    min: float
    max: float
    count: int


@strawberry.type(description="A station's channels over one interval; a channel without values there is null.")
class PowerReadingBucket:
    start: datetime
    active_power1: ChannelStats | None
    active_power2: ChannelStats | None
    active_power3: ChannelStats | None
    active_power4: ChannelStats | None
    active_power5: ChannelStats | None
    active_power6: ChannelStats | None
    mux_power1: ChannelStats | None
    mux_power2: ChannelStats | None
    mux_power3: ChannelStats | None
    mux_power4: ChannelStats | None

    @classmethod
    def all_of(cls, buckets: readings.ReadingBuckets) -> list[PowerReadingBucket]:
        result = []
        for i, start in enumerate(buckets.bucket_starts):
            stats: dict[str, ChannelStats | None] = {}
            for field, channel in buckets.channels.items():
                avg, low, high = channel.avg[i], channel.min[i], channel.max[i]
                stats[_snake(field)] = (
                    None
                    if avg is None or low is None or high is None
                    else ChannelStats(avg=avg, min=low, max=high, count=channel.count[i])
                )
            result.append(cls(start=to_datetime(start), **stats))
        return result


def _snake(field: str) -> str:
    return field.replace("Power", "_power")


@strawberry.type(description="An energy counter lower than its previous value: stored, with quality UNCERTAIN.")
class FlaggedValue:
    index: int = strawberry.field(description="The reading's place in the request.")
    station: str
    timestamp: datetime
    field: ChannelField
    value: float
    previous: float

    @classmethod
    def from_record(cls, flag: FlaggedRecord) -> FlaggedValue:
        return from_attributes(cls, flag, timestamp=to_datetime(flag.ts_ms), field=ChannelField(flag.field))


@strawberry.type(description="What recording readings did.")
class RecordPowerReadingsResult:
    count: int = strawberry.field(description="Readings accepted (all of them: a batch is all or nothing).")
    imported: int = strawberry.field(description="Readings that stored a new or changed value.")
    duplicates: int = strawberry.field(description="Readings already stored with the same values.")
    flagged: list[FlaggedValue]

    @classmethod
    def from_outcome(cls, outcome: RecordOutcome) -> RecordPowerReadingsResult:
        return from_attributes(cls, outcome, flagged=[FlaggedValue.from_record(flag) for flag in outcome.flagged])


@strawberry.type(description="The live station monitor as a whole.")
class StationMonitorStatus:
    enabled: bool
    database_available: bool = strawberry.field(description="False while readings go to the spool.")
    buffered: int
    received: int
    written: int
    duplicates: int
    rejected: int
    spooled: int
    replayed: int
