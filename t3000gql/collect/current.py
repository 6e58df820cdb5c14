"""Current values, cache first with a hardware fallback; refreshing a point from its device.

`read_current` answers a fresh cached value at once. A stale or missing one asks the device - once, however
many readers want that point at that moment (single flight), and in one driver call per device for all the
points asked in the same event-loop turn (a batch). The value read goes through the one write path (source
"on-demand"), so history, cache and live bus see it like any other.

A reader never waits longer than T3000_INTERFACE_TIMEOUT: if the device has not answered by then (or is known
offline and inside its skip window, or answered with an error for the point), the reader gets the stale value
marked stale - or nothing, if there never was one - plus the point's error, and the read in flight finishes
(with the driver's retries) for whoever asks next. One point the device refuses fails alone: the batch's other
points get their values. Devices that no driver reads (protocol "none", power stations) are served from the
cache as is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from t3000gql.collect.access import DeviceAccess, is_readable, spec_for
from t3000gql.collect.drivers import PointSpec
from t3000gql.collect.health import DeviceHealth
from t3000gql.domain.faults import Fault
from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import CurrentValue, Sample
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import DeviceError, DeviceTimeout, NotFoundError, T3000Error, ValidationError
from t3000gql.lifecycle import cancel_and_wait
from t3000gql.storage.cache import CachedValue
from t3000gql.storage.records import Device
from t3000gql.storage.store import Store

log = logging.getLogger(__name__)

READ_SOURCE = "on-demand"


@dataclass(frozen=True, slots=True)
class CurrentReading:
    """What `read_current` answers: the values there are (stale ones flagged) and, per point, why its value
    could not be refreshed. A point can be in both (a stale value and the DEVICE_TIMEOUT that kept it stale).
    `faults` holds the same errors as plain values, with since when they last and when an offline device is
    tried again."""

    values: dict[int, CurrentValue]
    errors: dict[int, T3000Error] = field(default_factory=dict)
    faults: dict[int, Fault] = field(default_factory=dict)


Flight = asyncio.Future[CurrentValue | None]


@dataclass
class _Batch:
    device: Device
    generation: int
    """The device's health generation when the batch formed: a reset since then voids the outcome."""
    flights: dict[int, Flight] = field(default_factory=dict)


def as_current(entry: CachedValue, fresh: bool) -> CurrentValue:
    return CurrentValue(entry.point_id, entry.value, entry.ts_ms, entry.source, stale=not fresh)


class CurrentReader:
    def __init__(
        self, store: Store, access: DeviceAccess, health: DeviceHealth, *, clock: Clock, timeout: float
    ) -> None:
        self._store = store
        self._access = access
        self._health = health
        self._clock = clock
        self.timeout = timeout
        """Seconds a reader waits for a device (T3000_INTERFACE_TIMEOUT)."""
        self._flights: dict[int, Flight] = {}
        self._forming: dict[int, _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.device_reads = 0
        """Driver calls made for readers (each one a batch of one device's points)."""

    def in_flight(self, point_id: int) -> bool:
        return point_id in self._flights

    async def wait_idle(self) -> None:
        """Returns when no device read is in flight (tests wait on this)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Cancels reads in flight (their readers get an error); called on shutdown."""
        await cancel_and_wait(*self._tasks)

    def read_fresh(self, point_id: int) -> CurrentValue | None:
        """The point's current value when the cache holds it fresh (counted as a hit), else None and nothing
        counted: `read_current` then does the lookup (and counts the miss) as it always did. Lets a reader of
        many cached values skip the wait for a batch that would find every one of them in the cache anyway."""
        cache = self._store.cache
        entry = cache.peek(point_id)
        if entry is None or not cache.is_fresh(entry):
            return None
        cache.hits += 1
        return as_current(entry, True)

    async def read_current(self, point_ids: Sequence[int], *, force: bool = False) -> CurrentReading:
        """Current values by point id, cache first. `force` asks the device even for fresh values (and even
        inside the device's skip window). Unknown point ids are left out."""
        cache = self._store.cache
        values: dict[int, CurrentValue] = {}
        wanted: list[int] = []
        for point_id in dict.fromkeys(point_ids):
            if force:
                entry = cache.peek(point_id)
                fresh = False
            else:
                lookup = cache.lookup(point_id)
                entry, fresh = lookup.entry, lookup.fresh
            if entry is not None:
                values[point_id] = as_current(entry, fresh)
            if not fresh:
                wanted.append(point_id)
        if not wanted:
            return CurrentReading(values)
        errors: dict[int, T3000Error] = {}
        flights = await self._flights_for(wanted, force=force, values=values, errors=errors)
        if flights:
            await asyncio.wait(flights.values(), timeout=self.timeout)
        for point_id, flight in flights.items():
            if not flight.done():
                errors[point_id] = DeviceTimeout(
                    f"{self._device_of(point_id)} did not answer within {self.timeout:g} s; "
                    "the last known value is served, marked stale"
                )
            elif (exc := flight.exception()) is not None:
                errors[point_id] = exc if isinstance(exc, T3000Error) else DeviceError(str(exc))
            elif (current := flight.result()) is not None:
                values[point_id] = current
        return CurrentReading(values, errors, self._faults(errors))

    def _faults(self, errors: dict[int, T3000Error]) -> dict[int, Fault]:
        directory = self._store.points.directory
        faults = {}
        for point_id, error in errors.items():
            ref = directory.ref_of(point_id)
            if ref is not None:
                faults[point_id] = self._health.fault_of(ref.device_id, ref, error)
        return faults

    async def refresh_point(self, ref: PointRef) -> CurrentValue:
        """Reads one point from its device now; raises the device's error instead of serving a stale value."""
        point = await self._store.points.require(ref)
        reading = await self.read_current([point.id], force=True)
        if point.id in reading.errors:
            raise reading.errors[point.id]
        if point.id not in reading.values:
            raise NotFoundError(f"point {ref} has no value: its device is not read by a driver")
        return reading.values[point.id]

    # --- single flight, batched per device -------------------------------------------------------------------

    async def _flights_for(
        self,
        point_ids: list[int],
        *,
        force: bool,
        values: dict[int, CurrentValue],
        errors: dict[int, T3000Error],
    ) -> dict[int, Flight]:
        """Joins the device read in flight of each point, or starts one (batched per device).

        Single flight needs care around the one await here (devices' records not read yet): a read that lands
        during it has left the cache fresh and its flight gone, so after it the cache is looked at again before
        a new read is started. Without that await (the common case) concurrent readers of one device also land
        in the same batch.
        """
        flights: dict[int, Flight] = {}
        directory = self._store.points.directory
        rest: dict[int, PointRef] = {}
        for point_id in point_ids:
            flight = self._flights.get(point_id)
            if flight is not None:
                flights[point_id] = flight  # someone is already asking the device: wait for that answer
            elif (ref := directory.ref_of(point_id)) is not None:
                rest[point_id] = ref
        if not rest:
            return flights
        repository = self._store.devices
        unknown = sorted({ref.device_id for ref in rest.values() if repository.remembered(ref.device_id) is None})
        if unknown:  # only on the first read of a device: later its record comes from memory, without an await
            await repository.get_many(unknown)
        cache = self._store.cache
        for point_id, ref in rest.items():
            flight = self._flights.get(point_id)
            if flight is not None:
                flights[point_id] = flight
                continue
            entry = cache.peek(point_id)
            if not force and entry is not None and cache.is_fresh(entry):
                values[point_id] = as_current(entry, True)  # read by someone else meanwhile
                continue
            device = repository.remembered(ref.device_id)
            if device is None or not device.is_active or not is_readable(device):
                continue  # no driver reads it: the cached value is all there is
            offline = None if force else self._health.offline_error(device.device_id)
            if offline is not None:
                errors[point_id] = offline  # nothing is sent to it until its skip window ends
                continue
            flights[point_id] = self._join(device, point_id)
        return flights

    def _join(self, device: Device, point_id: int) -> Flight:
        device_id = device.device_id
        batch = self._forming.get(device_id)
        if batch is None:
            batch = self._forming[device_id] = _Batch(device, self._health.generation(device_id))
            task = asyncio.create_task(self._fly(batch), name=f"read device {device_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        flight: Flight = asyncio.get_running_loop().create_future()
        flight.add_done_callback(_retrieve)
        batch.flights[point_id] = flight
        self._flights[point_id] = flight
        return flight

    async def _fly(self, batch: _Batch) -> None:
        """One driver call for every point of the batch; each flight gets its value, None (no driver reads
        this device: serve the cache as is) or the exception that kept it from being read."""
        await asyncio.sleep(0)  # readers of this loop turn join the batch first
        if self._forming.get(batch.device.device_id) is batch:
            del self._forming[batch.device.device_id]
        try:
            await self._read_batch(batch)
        except BaseException as exc:
            failure = exc if isinstance(exc, Exception) else DeviceError("the read was cancelled")
            for flight in batch.flights.values():
                if not flight.done():
                    flight.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
        finally:
            for point_id, flight in batch.flights.items():
                self._land(point_id, flight)

    async def _read_batch(self, batch: _Batch) -> None:
        device = batch.device
        points = await self._store.points.get_by_ids(list(batch.flights))
        specs: dict[int, PointSpec] = {}
        for point_id, flight in batch.flights.items():
            point = points.get(point_id)
            if point is None:  # deleted meanwhile
                flight.set_result(None)
                continue
            try:
                specs[point_id] = spec_for(point)
            except ValidationError as exc:  # a bad register map fails its own point, not the batch
                flight.set_exception(exc)
        if not specs:
            return
        async with self._access.lock(device.device_id):
            driver = await self._access.driver_for(device)
            self.device_reads += 1
            result = await driver.read_points(list(specs.values()))
        await self._health.record_read(device.device_id, result, generation=batch.generation)
        now = self._clock()
        values = result.values
        if values:
            await self._store.writes.record(
                [Sample(spec.ref, now, values[spec.ref]) for spec in specs.values() if spec.ref in values],
                READ_SOURCE,
            )
        for point_id, spec in specs.items():
            flight = batch.flights[point_id]
            if flight.done():
                continue
            if spec.ref in values:
                flight.set_result(CurrentValue(point_id, values[spec.ref], now, READ_SOURCE, stale=False))
            else:
                flight.set_exception(result.errors.get(spec.ref) or DeviceError(f"{spec.ref} was not read"))

    def _land(self, point_id: int, flight: Flight) -> None:
        if self._flights.get(point_id) is flight:
            del self._flights[point_id]

    def _device_of(self, point_id: int) -> str:
        ref = self._store.points.directory.ref_of(point_id)
        return f"device {ref.device_id}" if ref is not None else "the device"


def _retrieve(flight: Flight) -> None:
    """Marks a flight's exception as seen: readers that gave up waiting must not leave asyncio to complain."""
    if not flight.cancelled():
        flight.exception()
