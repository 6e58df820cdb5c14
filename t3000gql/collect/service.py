"""The collection side of the server as one object: drivers, device health, collector, current-value reads,
commands to devices and (with `--demo`) the demo site. `Services` starts it in the lifespan; the API calls it as `services.collection`,
the registry service (t3000gql.registry) to reschedule after a device or trend-log change."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from t3000gql.collect.access import DeviceAccess
from t3000gql.collect.backlog import Backlog, Deferred
from t3000gql.collect.collector import SOURCE as COLLECTOR_SOURCE
from t3000gql.collect.collector import CollectionResult, Collector
from t3000gql.collect.commands import Commander
from t3000gql.collect.current import CurrentReader, CurrentReading
from t3000gql.collect.demo import DemoSite
from t3000gql.collect.drivers import DriverManager
from t3000gql.collect.drivers.retry import DEFAULT_BACKOFF_BASE
from t3000gql.collect.health import DeviceHealth, StatusListener
from t3000gql.collect.metrics import CollectionMetrics
from t3000gql.domain.audit import SYSTEM, Actor
from t3000gql.domain.commands import CommandState
from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import CurrentValue
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import T3000Error
from t3000gql.lifecycle import Lifecycle, LifecycleHook
from t3000gql.storage.audit import AuditNote
from t3000gql.storage.store import Store

log = logging.getLogger(__name__)

REFRESH_OPERATION = "refresh_point"
COLLECT_OPERATION = "collect_now"


class Collection:
    def __init__(
        self, store: Store, *, clock: Clock, backoff_base: float = DEFAULT_BACKOFF_BASE, demo: bool = False
    ) -> None:
        settings = store.settings
        self.store = store
        self.scheduling = settings.background_collection_enabled
        self.access = DeviceAccess(DriverManager(settings, backoff_base=backoff_base))
        self.health = DeviceHealth(store.devices, clock, settings.collector_error_retry_seconds)
        self.metrics = CollectionMetrics(clock)
        self.backlog = Backlog(
            store,
            source=COLLECTOR_SOURCE,
            spool_base=Path(settings.collector_spool_path or f"{store.db.local_path}.collector-spool"),
            memory_samples=settings.collector_backlog_memory_samples,
            retry_seconds=settings.collector_retry_interval_ms / 1000,
            clock=clock,
            written=self._collected,
        )
        self.collector = Collector(
            store,
            self.access,
            self.health,
            self.metrics,
            clock=clock,
            max_concurrent_devices=settings.collector_max_concurrent_devices,
            backlog=self.backlog,
        )
        self.reader = CurrentReader(
            store, self.access, self.health, clock=clock, timeout=settings.t3000_interface_timeout
        )
        self.commands = Commander(
            store,
            self.access,
            self.health,
            self.reader,
            clock=clock,
            default_priority=settings.bacnet_write_priority,
        )
        self.demo = DemoSite(store) if demo else None
        self._started: Lifecycle | None = None

    async def _collected(self, entry: Deferred) -> None:
        """A held run's samples are written: its trend log was collected then."""
        if entry.trend_log_id is not None:
            await self.store.trend_logs.mark_collected(entry.trend_log_id, entry.ts_ms)

    async def start(self, hook: LifecycleHook | None = None, *, schedule: bool = True) -> None:
        """Starts the demo site (if asked for), then the schedule (unless BACKGROUND_COLLECTION_ENABLED=false,
        or `schedule` is False: Services leaves the schedule to leadership, `start_schedule`). Inside the running
        loop: aiocron binds the loop it is created in. When a step fails, what started before it is stopped
        again."""
        async with Lifecycle("collection", hook) as life:
            if self.demo is not None:
                await life.start("demo site", self.demo.start, lambda _: self._stop_demo())
            life.stop_with("device access", self.access.close)
            life.stop_with("current reads", self.reader.close)
            if schedule:
                await life.start("schedule", self.start_schedule, lambda _: self.stop_schedule())
            if self.demo is not None:
                await self._first_demo_collection()
            self._started = life.pop_all()

    async def start_schedule(self) -> None:
        """Starts sampling the active trend logs on their schedules (the leader's duty, t3000gql/leadership.py):
        from the next boundary of each, so an interval a previous leader collected is not collected again."""
        if not self.scheduling:
            log.info("background collection is off (BACKGROUND_COLLECTION_ENABLED=false)")
            return
        await self.backlog.start()  # first: samples held by an earlier run are written before new ones
        try:
            await self.collector.start()
        except BaseException:
            await self.backlog.stop()
            raise

    async def stop_schedule(self) -> None:
        """Stops the schedule and waits for the runs in flight (nothing happens when it is not running)."""
        if self.collector.scheduler.running:
            await self.collector.stop()
            await self.backlog.stop()  # after the runs in flight, which may have handed it samples

    async def _first_demo_collection(self) -> None:
        """A first sample of everything at once, so the demo shows values before its first boundary."""
        for trend_log in await self.store.trend_logs.list(is_active=True):
            try:
                await self.collector.collect_now(trend_log.id)
            except T3000Error as exc:
                log.warning("demo: first collection of trend log %s failed: %s", trend_log.id, exc)

    async def _stop_demo(self) -> None:
        if self.demo is not None:
            await self.demo.stop()

    async def stop(self) -> None:
        """Stops what `start` started, in reverse; without a start (tests drive the collector by hand), closes
        what on-demand reads opened."""
        started, self._started = self._started, None
        if started is not None:
            await started.aclose()
        else:
            await self.reader.close()
            await self.access.close()

    def on_status_change(self, listener: StatusListener) -> None:
        """`listener(device_id, online, at_ms, fault=..., failing=...)` after a device went online or offline or
        the set of its failing points changed (the live bus's hook)."""
        self.health.add_listener(listener)

    # --- what the API calls (as services.collection) ---------------------------------------------------------

    def read_fresh(self, point_id: int) -> CurrentValue | None:
        """The point's value when the cache holds it fresh (a hit), else None: then ask `read_current`."""
        return self.reader.read_fresh(point_id)

    async def read_current(self, point_ids: Sequence[int]) -> CurrentReading:
        """Current values by point id, cache first; stale or missing ones are read from their device once for
        all concurrent readers, waiting at most T3000_INTERFACE_TIMEOUT. A point the device gave no value for
        keeps its stale value (if any) beside its own error and fault: DEVICE_TIMEOUT, DEVICE_OFFLINE (skipped,
        nothing sent) or DEVICE_ERROR (the device's reason for that point)."""
        return await self.reader.read_current(point_ids)

    async def refresh_point(self, ref: PointRef, *, actor: Actor = SYSTEM) -> CurrentValue:
        """Reads the point from its device now (audited: an operator's request to a device)."""
        note = AuditNote(
            REFRESH_OPERATION,
            actor,
            device_id=ref.device_id,
            point_type=int(ref.point_type),
            point_number=ref.point_number,
            source="on-demand",
        )
        return await self.commands.audited(
            note, lambda: self.reader.refresh_point(ref), lambda value: {"value": value.value}
        )

    async def write_point_value(
        self, ref: PointRef, value: float, *, priority: int | None = None, actor: Actor = SYSTEM
    ) -> CurrentValue:
        """Commands the point's device (collect/commands.py: the point's rules, audit intent then outcome)."""
        return await self.commands.write(ref, value, priority=priority, actor=actor)

    async def release_point_value(
        self, ref: PointRef, *, priority: int | None = None, actor: Actor = SYSTEM
    ) -> CurrentValue:
        """Gives the point back (BACnet: NULL at the priority; T3: auto) and reads it back."""
        return await self.commands.release(ref, priority=priority, actor=actor)

    async def command_state(self, ref: PointRef) -> CommandState | None:
        return await self.commands.command_state(ref)

    async def collect_now(self, trend_log_id: int, *, actor: Actor = SYSTEM) -> CollectionResult:
        """Collects the trend log now (audited: an operator's request to a device)."""
        trend_log = await self.store.trend_logs.require(trend_log_id)
        note = AuditNote(
            COLLECT_OPERATION,
            actor,
            device_id=trend_log.device_id,
            source="collector",
            detail={"trend_log_id": trend_log_id},
        )
        return await self.commands.audited(
            note,
            lambda: self.collector.collect_now(trend_log_id),
            lambda run: {"samples": run.samples, "failed_points": len(run.failed_points)},
        )

    async def trend_log_changed(self, trend_log_id: int) -> None:
        """Call after creating, changing or deleting a trend log: its schedule follows at the next tick (of the
        leader: a follower keeps its schedule up to date without running it)."""
        if self.scheduling:
            await self.collector.reschedule(trend_log_id)

    async def devices_changed(self, device_ids: Iterable[int] | None = None) -> None:
        """A device was created, changed or deleted: a deleted one took its trend logs along, a deactivated
        one is no longer collected (one query compares the whole schedule with the database), and a device
        whose address, protocol or options changed, or that was deleted or re-created, starts afresh
        (`reset_device`). `device_ids` names the devices changed; without it, every device this process has
        talked to is compared with its record."""
        if self.scheduling:
            await self.collector.sync()
        candidates = set(self.access.known_devices()) if device_ids is None else set(device_ids)
        if not candidates:
            return
        found = await self.store.devices.get_many(sorted(candidates))
        records = {device_id: found.get(device_id) for device_id in candidates}
        for device_id in self.access.changed_devices(records):
            await self.reset_device(device_id)

    async def reset_device(self, device_id: int) -> None:
        """Forgets the device's health (offline state, failing points) and its driver (with what the driver
        learnt, such as registers the device lacks): the next read goes to the device as it is now."""
        self.health.reset(device_id)
        await self.access.forget([device_id])

    def report(self) -> dict[str, Any]:
        directory = self.store.points.directory
        return {
            "scheduling": self.scheduling,
            "scheduledTrendLogs": len(self.collector.scheduler.intervals()),
            "running": self.collector.running_count,
            "onDemandDeviceReads": self.reader.device_reads,
            "devices": self.health.report(is_point=lambda ref: directory.get(ref) is not None),
            **self.metrics.report(),
        }
