"""Power stations (seed 004): stations, readings (rows, latest, buckets), recording readings, the monitor.

Resolvers are a few lines each: the registry service changes stations, the station service records readings
(through the one write path), the reading reader reads them, and the `powerReadings` subscription follows the
live bus.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from t3000gql.api.access import needs
from t3000gql.api.context import Info
from t3000gql.api.enums import DataSource
from t3000gql.api.mapping import from_attributes
from t3000gql.api.station_inputs import PowerReadingFilter, PowerReadingInput, StationInput
from t3000gql.api.station_types import (
    PowerReading,
    PowerReadingBucket,
    RecordPowerReadingsResult,
    Station,
    StationMonitorStatus,
)
from t3000gql.auth import Role
from t3000gql.errors import ValidationError
from t3000gql.ingest.monitor import MonitorStats
from t3000gql.ingest.readings import new_readings
from t3000gql.storage.stations import Station as StationRecord
from t3000gql.storage.write_path import Audit

MAX_READINGS_PER_REQUEST = 10_000
RECORD_OPERATION = "record_power_readings"


async def _station(info: Info, name: str | None, uuid: str | None, device_id: int | None) -> StationRecord:
    return await info.context.services.stations.require_station(device_id=device_id, name=name, uuid=uuid)


@strawberry.type
class StationQueries:
    @strawberry.field(description="Every station, by name.")
    async def stations(self, info: Info) -> list[Station]:
        return [Station.from_record(s) for s in await info.context.services.stations.list_stations()]

    @strawberry.field(description="One station by name, uuid or deviceId (give exactly one); NOT_FOUND if none.")
    async def station(
        self, info: Info, name: str | None = None, uuid: str | None = None, device_id: int | None = None
    ) -> Station | None:
        return Station.from_record(await _station(info, name, uuid, device_id))

    @strawberry.field(
        description="Readings of one station (stationId or stationName) or of all, ordered and paged; "
        "an unknown station gives an empty list."
    )
    async def power_readings(self, info: Info, filter: PowerReadingFilter | None = None) -> list[PowerReading]:
        wanted = (filter or PowerReadingFilter()).to_filter(info.context)
        found = await info.context.services.readings.readings(wanted)
        return [PowerReading.from_reading(reading) for reading in found]

    @strawberry.field(description="How many readings the filter matches (limit and offset aside).")
    async def power_reading_count(self, info: Info, filter: PowerReadingFilter | None = None) -> int:
        return await info.context.services.readings.count((filter or PowerReadingFilter()).to_filter(info.context))

    @strawberry.field(description="The newest reading of a station (by name or deviceId); null when none.")
    async def latest_power_reading(
        self, info: Info, station: str | None = None, station_id: int | None = None
    ) -> PowerReading | None:
        record = await _station(info, station, None, station_id)
        found = await info.context.services.readings.latest([record])
        reading = found.get(record.device_id)
        return None if reading is None else PowerReading.from_reading(reading)

    @strawberry.field(
        description="A station's channels in intervalSeconds buckets over [startDate, endDate): avg, min, max "
        "and count per channel, computed in SQL from history."
    )
    async def power_reading_buckets(
        self,
        info: Info,
        start_date: datetime,
        end_date: datetime,
        interval_seconds: int,
        station: str | None = None,
        station_id: int | None = None,
    ) -> list[PowerReadingBucket]:
        context = info.context
        record = await _station(info, station, None, station_id)
        buckets = await context.services.readings.aggregate(
            record, context.epoch_ms(start_date), context.epoch_ms(end_date), interval_seconds
        )
        return PowerReadingBucket.all_of(buckets)

    @strawberry.field(description="The live station monitor: counters and whether the database takes writes.")
    def station_monitor(self, info: Info) -> StationMonitorStatus:
        monitor = info.context.services.monitor
        if monitor is None:  # STATION_MONITOR_ENABLED=false: nothing counted, nothing waiting
            return from_attributes(StationMonitorStatus, MonitorStats(), enabled=False, buffered=0)
        return from_attributes(StationMonitorStatus, monitor.stats, enabled=True, buffered=monitor.buffered)


@strawberry.type
class StationMutations:
    @strawberry.mutation(
        description="Creates a station (name and uuid must be new) with its ten channel points. Needs the admin "
        "role; audited.",
        extensions=needs(Role.ADMIN),
    )
    async def create_station(self, info: Info, input: StationInput) -> Station | None:
        return Station.from_record(
            await info.context.registry.create_station(input.to_domain(), info.context.actor)
        )

    @strawberry.mutation(
        description="Creates the station or changes the one with this deviceId (if given) or name; a station "
        "with a websocketUrl is monitored at once (the server connects to that URL). Needs the admin role; "
        "audited.",
        extensions=needs(Role.ADMIN),
    )
    async def upsert_station(self, info: Info, input: StationInput) -> Station | None:
        return Station.from_record(
            await info.context.registry.upsert_station(input.to_domain(), info.context.actor)
        )

    @strawberry.mutation(
        description="Deletes a station with its readings. False when there was no such station. Needs the admin "
        "role; audited with how many samples went.",
        extensions=needs(Role.ADMIN),
    )
    async def delete_station(self, info: Info, device_id: int) -> bool | None:
        return await info.context.registry.delete_station(device_id, info.context.actor)

    @strawberry.mutation(
        description="Records one reading (see recordPowerReadings). Needs the ingest role.",
        extensions=needs(Role.INGEST),
    )
    async def record_power_reading(
        self, info: Info, input: PowerReadingInput, source: DataSource = DataSource.MANUAL
    ) -> RecordPowerReadingsResult | None:
        outcome = await info.context.services.stations.record(
            [input.to_domain(info.context)], source.stored(), audit=_audit(info)
        )
        return RecordPowerReadingsResult.from_outcome(outcome)

    @strawberry.mutation(
        description="Records readings all or nothing (at most 10,000 a request): the station must exist, every "
        "value be finite and in the configured range, and no reading more than MAX_CLOCK_SKEW_SECONDS in the "
        "future; a bad reading is named by index, field and value and nothing is written. An energy counter "
        "lower than its previous value is stored with quality UNCERTAIN and listed in `flagged`. Needs the "
        "ingest role; audited once per station.",
        extensions=needs(Role.INGEST),
    )
    async def record_power_readings(
        self, info: Info, inputs: list[PowerReadingInput], source: DataSource = DataSource.MANUAL
    ) -> RecordPowerReadingsResult | None:
        if len(inputs) > MAX_READINGS_PER_REQUEST:
            raise ValidationError(
                f"holds more than {MAX_READINGS_PER_REQUEST} readings (send several requests)",
                field="inputs",
                value=len(inputs),
            )
        given = [reading.to_domain(info.context) for reading in inputs]
        outcome = await info.context.services.stations.record(given, source.stored(), audit=_audit(info))
        return RecordPowerReadingsResult.from_outcome(outcome)


def _audit(info: Info) -> Audit:
    return Audit(RECORD_OPERATION, info.context.actor, per_device=True)


@strawberry.type
class StationSubscriptions:
    @strawberry.subscription(
        description="Each reading of a station (by name or deviceId) as it is stored, whoever wrote it (live "
        "monitor, import, API); a corrected reading comes again with its new values. A client that reads too "
        "slowly gets the latest readings instead of every one."
    )
    async def power_readings(
        self, info: Info, station_name: str | None = None, station_id: int | None = None
    ) -> AsyncGenerator[PowerReading, None]:
        context = info.context
        station = await _station(info, station_name, None, station_id)
        feed = new_readings(context.services.live, context.services.readings, station)
        async with contextlib.aclosing(feed):  # leaving early unregisters from the bus at once
            async for reading in feed:
                yield PowerReading.from_reading(reading)
