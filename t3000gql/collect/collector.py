"""The collector: samples each active trend log at its interval, through the device's driver, into the write path.

One run reads all of a trend log's points in one `read_points` call (the driver makes as few requests as the
protocol allows), then records them through the one write path (history + cache + live bus) with the trend
log's id and source "collector", then sets `last_collected`.

Retries: the driver already retries every request T3000_MAX_RETRIES times with backoff, so a run makes one
`read_points` attempt and does not retry on top (that would multiply to (retries+1)^2 requests and hold the
device for as long). A run whose device did not answer marks it offline and skips it for
COLLECTOR_ERROR_RETRY_SECONDS (`DeviceHealth`); the first run after that window tries again and an answer brings
it back online.

Partial reads: a device that answers is online, whatever it answers. The values it gave are stored; the points it
answered with an error (or that cannot be read, such as a bad register map) are counted per point in
`DeviceHealth` and listed in the run's result, and the run succeeds with the samples it has.

Concurrency: each run is its own task. Runs of one device take turns (the device lock, shared with on-demand
reads); at most COLLECTOR_MAX_CONCURRENT_DEVICES devices are read at once, a slot being taken only after the
device lock, so runs waiting for a busy device hold no slot. A trend log whose previous run is still going is
not started again (aiocron has no overlap protection); `collect_now` joins the running one instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from t3000gql.collect.access import DeviceAccess, spec_for
from t3000gql.collect.backlog import Backlog, Deferred
from t3000gql.collect.drivers import PointSpec, ReadResult
from t3000gql.collect.health import DeviceHealth
from t3000gql.collect.metrics import CollectionMetrics
from t3000gql.collect.scheduler import IntervalScheduler
from t3000gql.domain.faults import PointFault
from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import Sample
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import DatabaseUnavailable, DeviceError, NotFoundError, T3000Error, ValidationError
from t3000gql.lifecycle import cancel_and_wait
from t3000gql.storage.store import Store

log = logging.getLogger(__name__)

SOURCE = "collector"
SYNC_SECONDS = 60
"""How often the schedule is compared with the database, as a safety net for changes made without
`reschedule` (another process, a manual SQL edit). API mutations call `reschedule` and take effect at once."""

Outcome = Literal["started", "succeeded", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class RunEvent:
    """What run listeners hear: a run started, succeeded (with its sample count and how many points failed),
    failed or was skipped."""

    outcome: Outcome
    trend_log_id: int
    device_id: int | None
    ts_ms: int
    samples: int = 0
    error: T3000Error | None = None
    reason: str | None = None
    failed_points: int = 0


RunListener = Callable[[RunEvent], None]


@dataclass(frozen=True, slots=True)
class CollectionResult:
    trend_log_id: int
    device_id: int
    ts_ms: int
    samples: int
    failed_points: tuple[PointFault, ...] = ()
    """Points of the trend log the device gave no value for, each with its own error."""


class Collector:
    def __init__(
        self,
        store: Store,
        access: DeviceAccess,
        health: DeviceHealth,
        metrics: CollectionMetrics,
        *,
        clock: Clock,
        max_concurrent_devices: int,
        backlog: Backlog | None = None,
    ) -> None:
        self._store = store
        self.backlog = backlog
        """Where samples go while the database refuses writes (None: such a run fails, as before)."""
        self._access = access
        self._health = health
        self.metrics = metrics
        self._clock = clock
        self._slots = asyncio.Semaphore(max_concurrent_devices)
        self.scheduler = IntervalScheduler(clock, self._start_due)
        self._running: dict[int, asyncio.Task[CollectionResult | None]] = {}
        self._listeners: list[RunListener] = []
        self._sync_task: asyncio.Task[None] | None = None

    # --- schedule ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Loads the active trend logs and starts ticking. Inside the running loop (the lifespan)."""
        await self.sync()
        self.scheduler.start()
        self._sync_task = asyncio.create_task(self._sync_forever(), name="collector sync")

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stops scheduling, then waits up to `grace_seconds` for runs in flight and cancels the rest."""
        self.scheduler.stop()
        sync_task, self._sync_task = self._sync_task, None
        await cancel_and_wait(sync_task)
        running = list(self._running.values())
        if running:
            await asyncio.wait(running, timeout=grace_seconds)
            await cancel_and_wait(*running)  # those still running after the grace period

    async def sync(self) -> None:
        """Makes the schedule match the database: active trend logs of active devices."""
        devices = {device.device_id for device in await self._store.devices.list(is_active=True)}
        active = {
            log.id: log.interval_seconds
            for log in await self._store.trend_logs.list(is_active=True)
            if log.device_id in devices
        }
        scheduled = self.scheduler.intervals()
        for trend_log_id in set(scheduled) - set(active):
            self.scheduler.remove(trend_log_id)
        for trend_log_id, interval in active.items():
            if scheduled.get(trend_log_id) != interval:
                self.scheduler.set(trend_log_id, interval)

    async def reschedule(self, trend_log_id: int) -> None:
        """What the API calls after creating, changing or deleting a trend log: effective at the next tick."""
        trend_log = await self._store.trend_logs.get(trend_log_id)
        device = await self._store.devices.get(trend_log.device_id) if trend_log is not None else None
        if trend_log is None or not trend_log.is_active or device is None or not device.is_active:
            self.scheduler.remove(trend_log_id)
        else:
            self.scheduler.set(trend_log_id, trend_log.interval_seconds)

    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(SYNC_SECONDS)
            try:
                await self.sync()
            except Exception:
                log.exception("collector sync failed; the schedule stays as it was")

    # --- runs ----------------------------------------------------------------------------------------------

    def add_listener(self, listener: RunListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: RunListener) -> None:
        self._listeners.remove(listener)

    @property
    def running_count(self) -> int:
        return len(self._running)

    def is_running(self, trend_log_id: int) -> bool:
        return trend_log_id in self._running

    async def wait_idle(self) -> None:
        """Returns when no run is in flight (tests and the benchmark wait on this)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    def _start_due(self, due: list[tuple[int, int]]) -> None:
        for trend_log_id, boundary_ms in due:
            if trend_log_id in self._running:
                self.metrics.overlaps_skipped += 1
                self._emit(RunEvent("skipped", trend_log_id, None, boundary_ms, reason="previous run still going"))
                continue
            self._spawn(trend_log_id, boundary_ms, force=False)

    def run_due(self, now_second: int) -> int:
        """Starts the runs due at `now_second` as a tick would; returns how many were due (tests, benchmark)."""
        due = self.scheduler.due(now_second)
        self._start_due(due)
        return len(due)

    def _spawn(self, trend_log_id: int, ts_ms: int, *, force: bool) -> asyncio.Task[CollectionResult | None]:
        task = asyncio.create_task(self._run(trend_log_id, ts_ms, force=force), name=f"trend log {trend_log_id}")
        self._running[trend_log_id] = task
        task.add_done_callback(lambda done: self._finished(trend_log_id, done))
        return task

    def _finished(self, trend_log_id: int, task: asyncio.Task[CollectionResult | None]) -> None:
        if self._running.get(trend_log_id) is task:
            del self._running[trend_log_id]
        exc = None if task.cancelled() else task.exception()  # retrieved here, so asyncio never complains
        if exc is not None and not isinstance(exc, T3000Error):  # ours were logged by _failed
            log.error("trend log %s: unexpected error", trend_log_id, exc_info=exc)

    async def collect_now(self, trend_log_id: int) -> CollectionResult:
        """Runs a trend log at once (even if inactive, even if its device is in its skip window).

        If a run of it is in flight, that run's result is returned instead of starting a second one. Raises
        NotFoundError, ValidationError (a point or device the driver cannot read), DeviceTimeout or DeviceError.
        """
        task = self._running.get(trend_log_id)
        if task is None:
            task = self._spawn(trend_log_id, self._clock(), force=True)
        result = await asyncio.shield(task)
        if result is None:
            raise NotFoundError(f"trend log {trend_log_id} was deleted while it was being collected")
        return result

    async def _run(self, trend_log_id: int, ts_ms: int, *, force: bool) -> CollectionResult | None:
        """One collection. Scheduled runs (force=False) swallow device errors after recording them (they
        show in metrics, device status and the log); `collect_now` (force=True) gets them raised."""
        store = self._store
        trend_log = await store.trend_logs.get(trend_log_id)
        if trend_log is None or not (force or trend_log.is_active):
            self.scheduler.remove(trend_log_id)
            if force:
                raise NotFoundError(f"trend log {trend_log_id} does not exist")
            return None
        device_id = trend_log.device_id
        skip_until = self._health.skipped_until(device_id)
        if skip_until is not None and not force:
            self.metrics.offline_skipped += 1
            self._emit(RunEvent("skipped", trend_log_id, device_id, ts_ms, reason="device offline"))
            return None
        self._emit(RunEvent("started", trend_log_id, device_id, ts_ms))
        started = time.perf_counter()
        result = ReadResult()
        protocol = "unknown"
        try:
            device = await store.devices.require(device_id)
            protocol = device.protocol
            if not (force or device.is_active):
                self.scheduler.remove(trend_log_id)
                self._emit(RunEvent("skipped", trend_log_id, device_id, ts_ms, reason="device inactive"))
                return None
            by_id = await store.points.get_by_ids(trend_log.point_ids)
            points = [by_id[pid] for pid in trend_log.point_ids if pid in by_id and by_id[pid].is_active]
            specs: list[PointSpec] = []
            unreadable: dict[PointRef, T3000Error] = {}
            for point in points:
                try:
                    specs.append(spec_for(point))
                except ValidationError as exc:  # a bad register map fails its own point, not the run
                    unreadable[point.ref] = exc
            generation = self._health.generation(device_id)
            if specs:
                async with self._access.lock(device_id):
                    if not force and self._health.skipped_until(device_id) is not None:
                        # A run of another trend log of this device failed while this one waited its turn.
                        self.metrics.offline_skipped += 1
                        self._emit(RunEvent("skipped", trend_log_id, device_id, ts_ms, reason="device offline"))
                        return None
                    async with self._slots:
                        driver = await self._access.driver_for(device)
                        result = await driver.read_points(specs)
            result.errors.update(unreadable)
            if specs:
                await self._health.record_read(device_id, result, generation=generation)
        except DeviceError as exc:  # our side could not ask the device (say, our BACnet application failed)
            self._failed(trend_log_id, device_id, ts_ms, started, protocol, exc, raise_it=force)
            return None
        except (ValidationError, NotFoundError) as exc:
            # The trend log's configuration is wrong, not the device: it stays online.
            self._failed(trend_log_id, device_id, ts_ms, started, protocol, exc, raise_it=force)
            return None
        values = result.values
        samples = [
            Sample(point.ref, ts_ms, values[point.ref], trend_log_id=trend_log_id)
            for point in points
            if point.ref in values
        ]
        try:
            if samples:
                if self.backlog is not None and self.backlog.running and self.backlog.pending:  # behind, in order
                    await self.backlog.keep(Deferred(trend_log_id, ts_ms, tuple(samples)))
                else:
                    await self._store_samples(trend_log_id, ts_ms, samples)
        except T3000Error as exc:  # the database refused (locked, full): the device did its part
            self._failed(trend_log_id, device_id, ts_ms, started, protocol, exc, raise_it=force)
            return None
        except OSError as exc:  # the spool's disk too
            self._failed(
                trend_log_id, device_id, ts_ms, started, protocol, DatabaseUnavailable(str(exc)), raise_it=force
            )
            return None
        if result.no_answer is not None:  # the values it gave before falling silent are stored all the same
            self._failed(trend_log_id, device_id, ts_ms, started, protocol, result.no_answer, raise_it=force)
            return None
        errors = result.errors
        failed = tuple(
            PointFault(point.ref, self._health.fault_of(device_id, point.ref, errors[point.ref]))
            for point in points
            if point.ref in errors
        )
        latency_ms = (time.perf_counter() - started) * 1000
        self.metrics.record(
            trend_log_id,
            device_id,
            ok=True,
            latency_ms=latency_ms,
            samples=len(samples),
            failed_points=len(failed),
            driver=protocol,
        )
        log.debug(
            "trend log %s: %s samples from device %s, %s points failed",
            trend_log_id,
            len(samples),
            device_id,
            len(failed),
        )
        self._emit(
            RunEvent("succeeded", trend_log_id, device_id, ts_ms, samples=len(samples), failed_points=len(failed))
        )
        return CollectionResult(trend_log_id, device_id, ts_ms, len(samples), failed)

    async def _store_samples(self, trend_log_id: int, ts_ms: int, samples: list[Sample]) -> None:
        """Through the write path; held by the backlog (if any) when the database refuses them."""
        try:
            written = await self._store.writes.record(samples, SOURCE)
        except DatabaseUnavailable:
            if self.backlog is None or not self.backlog.running:
                raise
            await self.backlog.keep(Deferred(trend_log_id, ts_ms, tuple(samples)))
            return
        # History held these already: this interval was collected before (by another leader?).
        self.metrics.repeated_samples += written.updated + written.unchanged
        try:
            await self._store.trend_logs.mark_collected(trend_log_id, ts_ms)
        except DatabaseUnavailable:
            log.info(
                "trend log %s: samples stored, its last collection time not (the database refused)", trend_log_id
            )

    def _failed(
        self,
        trend_log_id: int,
        device_id: int,
        ts_ms: int,
        started: float,
        protocol: str,
        exc: T3000Error,
        *,
        raise_it: bool,
    ) -> None:
        latency_ms = (time.perf_counter() - started) * 1000
        self.metrics.record(trend_log_id, device_id, ok=False, latency_ms=latency_ms, driver=protocol)
        self.metrics.last_error = f"trend log {trend_log_id}: {exc}"
        log.warning("trend log %s (device %s) not collected: %s", trend_log_id, device_id, exc)
        self._emit(RunEvent("failed", trend_log_id, device_id, ts_ms, error=exc))
        if raise_it:
            raise exc
        return None

    def _emit(self, event: RunEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("a collection run listener failed")
