"""The station service: stations, and power readings written through the one write path and read back.

Every reading (API, live monitor, log import) goes through `StationService.record` (or `prepare` + `write`):
station exists → time and values valid and in range → energy counters compared with their previous value →
one `WritePath.record` call that writes the values, the reading's index row and (for the import) a checkpoint
in one transaction.

Energy counters that go backwards (a meter reset, a swapped meter, a glitch) are *stored* with quality
UNCERTAIN and reported, not rejected: rejecting would lose the readings that follow a reset, and a live stream
cannot be asked to resend. The reading's `flags` say which channels were flagged.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from t3000gql.config import Settings
from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import FutureLimit, check_not_future
from t3000gql.domain.stations import (
    CHANNELS,
    ENERGY_INDEXES,
    STATION_ID_FIRST,
    STATION_ID_LAST,
    ChannelValues,
    ReadingInput,
    ReadingLimits,
    StationInput,
    check_reading,
)
from t3000gql.errors import NotFoundError, ValidationError
from t3000gql.ingest.reading_samples import any_backwards, samples_of, station_refs
from t3000gql.storage.connection import Connection
from t3000gql.storage.power_readings import save_meta
from t3000gql.storage.stations import Station, StationWritten
from t3000gql.storage.store import Store
from t3000gql.storage.transaction import Transaction, transaction
from t3000gql.storage.write_path import Audit, WriteContext

log = logging.getLogger(__name__)

StationDeleting = Callable[[Transaction, Station], Awaitable[None]]
"""Runs in a station deletion's transaction before the rows go (the registry's audit entry)."""


def reading_limits(settings: Settings) -> ReadingLimits:
    return ReadingLimits(
        power_min_w=settings.station_power_min_w,
        power_max_w=settings.station_power_max_w,
        energy_min_kwh=settings.station_energy_min_kwh,
        energy_max_kwh=settings.station_energy_max_kwh,
    )


class PreparedReading(NamedTuple):
    """A reading that passed validation, with its station resolved. `at` is its place in the caller's batch."""

    at: int
    station: Station
    ts_ms: int
    values: ChannelValues


@dataclass(frozen=True, slots=True)
class FlaggedValue:
    """An energy counter lower than the channel's previous value: stored with quality UNCERTAIN."""

    index: int
    station: str
    ts_ms: int
    field: str
    value: float
    previous: float


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    count: int
    """Readings accepted (new, changed or already stored)."""
    imported: int
    """Readings that stored at least one new or changed value."""
    duplicates: int
    """Readings whose every value was already stored (a re-import or a repeated message)."""
    flagged: list[FlaggedValue]


StationsChanged = Callable[[], None]
OutcomeHook = Callable[[Connection, RecordOutcome], Awaitable[None]]
"""Runs inside the write transaction once the outcome is known (the importer saves its checkpoint there)."""


class StationService:
    def __init__(self, store: Store, limits: ReadingLimits) -> None:
        self.store = store
        self.limits = limits
        self._by_name: dict[str, Station] = {}
        self._by_id: dict[int, Station] = {}
        self._listeners: list[StationsChanged] = []

    def on_change(self, listener: StationsChanged) -> None:
        """Called after a station is created, changed or deleted (the monitor starts/stops its clients)."""
        self._listeners.append(listener)

    # --- stations ---------------------------------------------------------------------------------------------

    async def list_stations(self) -> list[Station]:
        stations = await self.store.stations.list()
        self._remember(stations)
        return stations

    async def get_station(
        self, *, device_id: int | None = None, name: str | None = None, uuid: str | None = None
    ) -> Station | None:
        return await self.store.stations.get(device_id=device_id, name=name, uuid=uuid)

    async def require_station(
        self, *, device_id: int | None = None, name: str | None = None, uuid: str | None = None
    ) -> Station:
        station = await self.get_station(device_id=device_id, name=name, uuid=uuid)
        if station is None:
            which = name if name is not None else uuid if uuid is not None else device_id
            raise NotFoundError(f"station {which!r} does not exist")
        return station

    async def create_station(self, data: StationInput, *, then: StationWritten | None = None) -> Station:
        """`then` runs in the station's transaction (the registry's audit entry)."""
        return self._changed(await self.store.stations.create(data, then=then))

    async def upsert_station(self, data: StationInput, *, then: StationWritten | None = None) -> Station:
        return self._changed(await self.store.stations.upsert(data, then=then))

    async def ensure_stations(self, names: Iterable[str]) -> list[Station]:
        """Creates the named stations that do not exist yet, with a new uuid and no scene (the log import's
        --create-stations: old logs name stations that were never registered). Returns those it created."""
        wanted = set(names)
        if wanted - self._by_name.keys():
            self._forget_all()
            await self.list_stations()
        created = []
        for name in sorted(wanted - self._by_name.keys()):
            try:
                created.append(await self.create_station(StationInput(name=name)))
            except ValidationError:
                continue  # a name no station may have: the reading is reported invalid by `prepare`
        return created

    async def delete_station(self, device_id: int, *, before: StationDeleting | None = None) -> bool:
        """Deletes the station's device (its channels and readings go with it); `before(tx, station)` runs in
        the same transaction first (the registry's audit entry)."""
        station = await self.get_station(device_id=device_id)
        if station is None:
            return False
        async with transaction(self.store.db) as tx:
            if before is not None:
                await before(tx, station)
            deleted = await self.store.devices.delete_in(tx, device_id)
        self._forget_all()
        self._notify()
        return deleted

    def _changed(self, station: Station) -> Station:
        self._forget_all()
        self._remember([station])
        self._notify()
        return station

    def _notify(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:
                log.exception("a station-change listener failed")

    def _remember(self, stations: Sequence[Station]) -> None:
        for station in stations:
            self._by_name[station.name] = station
            self._by_id[station.device_id] = station

    def forget_stations(self) -> None:
        """Drops the station list kept in memory (after a station was deleted elsewhere, e.g. as a device)."""
        self._forget_all()

    def devices_changed(self, device_ids: Collection[int]) -> None:
        """A registry change that was not a station change (a device or its points, created, changed or
        deleted) touched these devices: when one may be a station (renamed, readdressed, deleted, a channel
        renamed), the stations kept in memory are dropped and the listeners (the monitor) told."""
        if any(STATION_ID_FIRST <= device_id <= STATION_ID_LAST for device_id in device_ids):
            self._forget_all()
            self._notify()

    def _forget_all(self) -> None:
        self._by_name.clear()
        self._by_id.clear()

    async def _resolve(self, inputs: Sequence[ReadingInput]) -> None:
        """Loads the stations a batch names that are not in memory yet (one query for all of them)."""
        if any(
            (r.station is not None and r.station not in self._by_name)
            or (r.station is None and r.station_id not in self._by_id)
            for r in inputs
        ):
            self._forget_all()
            await self.list_stations()

    # --- writing readings -------------------------------------------------------------------------------------

    async def prepare(
        self, inputs: Sequence[ReadingInput], *, skip_invalid: bool = False
    ) -> tuple[list[PreparedReading], list[ValidationError]]:
        """Validates a batch. Raises the first problem (naming index, field, value) unless `skip_invalid`, which
        returns the good readings and one error per bad reading instead."""
        await self._resolve(inputs)
        prepared: list[PreparedReading] = []
        errors: list[ValidationError] = []
        future = FutureLimit(self.store.clock(), self.store.settings.max_clock_skew_seconds * 1000)
        for index, reading in enumerate(inputs):
            try:
                station = self._station_of(reading, index)
                values = check_reading(reading.ts_ms, reading.values, self.limits, index=index)
                check_not_future(reading.ts_ms, future, index=index)
            except ValidationError as exc:
                if not skip_invalid:
                    raise
                errors.append(exc)
                continue
            prepared.append(PreparedReading(index, station, reading.ts_ms, values))
        return prepared, errors

    def _station_of(self, reading: ReadingInput, index: int) -> Station:
        if reading.station is not None:
            station = self._by_name.get(reading.station)
            if station is None:
                raise ValidationError(
                    "is not a known station", field="station", index=index, value=reading.station
                )
            if reading.station_id is not None and reading.station_id != station.device_id:
                raise ValidationError(
                    f"names station {station.device_id}, not {reading.station_id}",
                    field="station_id",
                    index=index,
                    value=reading.station_id,
                )
            return station
        found = self._by_id.get(reading.station_id) if reading.station_id is not None else None
        if found is None:
            raise ValidationError(
                "is not a known station (give station or station_id)",
                field="station_id",
                index=index,
                value=reading.station_id,
                mentions=("station_id",),
            )
        return found

    async def record(
        self, inputs: Sequence[ReadingInput], source: str, *, audit: Audit | None = None
    ) -> RecordOutcome:
        """Validates and stores a batch all or nothing (the API's recordPowerReadings)."""
        prepared, _ = await self.prepare(inputs)
        return await self.write(prepared, source, audit=audit)

    async def write(
        self,
        prepared: Sequence[PreparedReading],
        source: str,
        *,
        then: OutcomeHook | None = None,
        audit: Audit | None = None,
        durable: bool = False,
    ) -> RecordOutcome:
        """Writes validated readings in one transaction; `then` runs in that transaction too, told the outcome.
        `durable`: on disk before this returns (a spool replay, about to delete its copy)."""
        if not prepared:
            return RecordOutcome(0, 0, 0, [])
        flagged = await self._flag_backwards(prepared)
        flags_of: dict[int, int] = defaultdict(int)
        for flag in flagged:
            flags_of[flag.index] |= 1 << _POSITION[flag.field]
        samples, owner = samples_of(prepared, flags_of)
        meta = [(item.station.device_id, item.ts_ms, flags_of.get(item.at, 0)) for item in prepared]
        outcomes: list[RecordOutcome] = []

        async def in_transaction(conn: Connection, context: WriteContext) -> None:
            if len(context.changed) == len(samples):
                changed = [True] * len(prepared)  # the common case: every value is new
            else:
                changed = [False] * len(prepared)
                for i in context.changed:
                    changed[owner(i)] = True
            await save_meta(conn, meta, changed, context)
            outcomes.append(_outcome(prepared, changed, flagged))
            if then is not None:
                await then(conn, outcomes[-1])

        await self.store.writes.record(samples, source, extra=in_transaction, audit=audit, durable=durable)
        outcome = outcomes[-1]
        return outcome

    async def _flag_backwards(self, prepared: Sequence[PreparedReading]) -> list[FlaggedValue]:
        """Compares every energy counter with the channel's previous value: the previous reading of the same
        station in this batch, else the newest stored sample before the batch's first reading of that station."""
        by_station: dict[int, list[PreparedReading]] = defaultdict(list)
        for item in prepared:
            by_station[item.station.device_id].append(item)
        wanted: list[tuple[int, int]] = []
        ids = await self.store.points.resolve(ref for device_id in by_station for ref in _energy_refs(device_id))
        for device_id, items in by_station.items():
            items.sort(key=lambda item: item.ts_ms)
            wanted.extend((ids[ref], items[0].ts_ms) for ref in _energy_refs(device_id) if ref in ids)
        previous = await self.store.power_readings.previous_values(wanted)
        flagged: list[FlaggedValue] = []
        for device_id, items in by_station.items():
            first = items[0].ts_ms
            refs = station_refs(device_id)
            last = {pos: previous.get((ids.get(refs[pos], -1), first)) for pos in ENERGY_INDEXES}
            if not any_backwards(items, last):
                continue
            for item in items:
                for pos in ENERGY_INDEXES:
                    value = item.values[pos]
                    if value is None:
                        continue
                    before = last[pos]
                    if before is not None and value < before:
                        flagged.append(
                            FlaggedValue(
                                item.at, item.station.name, item.ts_ms, CHANNELS[pos].field, value, before
                            )
                        )
                    last[pos] = value
        flagged.sort(key=lambda flag: (flag.index, _POSITION[flag.field]))
        return flagged


def _outcome(
    prepared: Sequence[PreparedReading], changed: Sequence[bool], flagged: Sequence[FlaggedValue]
) -> RecordOutcome:
    """A reading counts as imported when it stored a new or changed value, else as a duplicate (also the first
    of two readings of one station and time in one batch: the last one's values are stored). Flags are reported
    for imported readings only: a duplicate's flag was reported when it was first stored."""
    if all(changed):
        return RecordOutcome(count=len(prepared), imported=len(prepared), duplicates=0, flagged=list(flagged))
    imported = {item.at for item, is_changed in zip(prepared, changed, strict=True) if is_changed}
    return RecordOutcome(
        count=len(prepared),
        imported=len(imported),
        duplicates=len(prepared) - len(imported),
        flagged=[flag for flag in flagged if flag.index in imported],
    )


_POSITION = {channel.field: position for position, channel in enumerate(CHANNELS)}


def _energy_refs(device_id: int) -> tuple[PointRef, ...]:
    refs = station_refs(device_id)
    return tuple(refs[pos] for pos in ENERGY_INDEXES)
