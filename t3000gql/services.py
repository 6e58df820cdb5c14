"""Everything the server runs, started and stopped together: the store and its periodic jobs, the live bus,
collection (the collector, current-value reads, the demo site), the station service and the live station
monitor, leadership, and the changes of other processes applied here.

Of several processes sharing one database, only the leader (t3000gql/leadership.py) runs the collection schedule,
the station monitor and retention; every process serves the API, keeps its cache cleanup to itself, and applies
what the others changed (t3000gql/peers.py). docs/scaling.md says what is shared how.

The API calls these services, never the repositories behind them: `registry` for every change to devices,
points, trend logs and stations (it writes, reschedules collection and publishes the change), `collection` for
current values and on-demand reads and writes, `stations` and `readings` for power readings. Changes stored by
the write path and devices going online or offline are published on the live bus.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from t3000gql.auth import Authenticator
from t3000gql.collect.drivers.retry import DEFAULT_BACKOFF_BASE
from t3000gql.collect.service import Collection
from t3000gql.config import Settings
from t3000gql.domain.health import HealthState
from t3000gql.domain.samples import CurrentValue, StoredSample
from t3000gql.domain.timeutil import Clock, system_clock
from t3000gql.health import Component, HealthService, Readiness
from t3000gql.ingest.monitor import MonitorConfig, StationMonitor
from t3000gql.ingest.readings import ReadingReader
from t3000gql.ingest.stations import StationService, reading_limits
from t3000gql.leadership import Leadership
from t3000gql.lifecycle import Lifecycle, LifecycleHook
from t3000gql.live import LiveBus, RegistryNote
from t3000gql.peers import PARTITIONS, TOKENS, Peers, change_of, note_of
from t3000gql.registry import Registry
from t3000gql.storage.availability import BreakerState
from t3000gql.storage.backup_schedule import BackupSchedule
from t3000gql.storage.cache import CachedValue
from t3000gql.storage.leader_lock import leader_lock
from t3000gql.storage.store import Store
from t3000gql.storage.write_path import WriteResult

log = logging.getLogger(__name__)
RETENTION_PERIOD_SECONDS = 24 * 3600


@dataclass
class Services:
    settings: Settings
    store: Store
    live: LiveBus
    collection: Collection
    clock: Clock
    stations: StationService
    readings: ReadingReader
    auth: Authenticator
    """API tokens in memory, the rate limit; what every API edge asks who a request is (t3000gql.auth)."""
    leadership: Leadership
    monitor: StationMonitor | None = None
    """None when STATION_MONITOR_ENABLED is false, and in a process that does not lead."""
    demo: bool = False
    backups: BackupSchedule | None = None
    """Scheduled backups (BACKUP_SCHEDULE), None when there is no schedule."""
    health_service: HealthService | None = None
    """Health metrics, thresholds, alerts, readiness (t3000gql.health); set by `start`."""
    _running: Lifecycle = field(default_factory=Lifecycle, repr=False)
    registry: Registry = field(init=False)
    """Changes to devices, points, trend logs and stations: write, reschedule, publish (t3000gql.registry)."""

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        demo: bool = False,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        hook: LifecycleHook | None = None,
    ) -> Services:
        """Starts every part in order: store, authenticator, live bus, collection, station monitor, periodic jobs. When one
        fails, the parts already started are stopped in reverse and the error is raised. `hook` hears each part
        start and stop (t3000gql/lifecycle.py)."""
        async with Lifecycle("", hook) as life:
            store = await life.start("store", lambda: Store.open(settings, clock=clock, hook=hook), Store.close)
            auth = Authenticator(store, settings, clock)
            # Right after the store: a server that needs a token and has none refuses to start.
            await life.start("auth", auth.start, lambda _: auth.stop())
            peers = Peers()
            live = LiveBus(
                settings.broadcast_url,
                prefix=settings.broadcast_channel_prefix,
                queue_size=settings.live_queue_size,
                on_remote_changes=_remote_changes_into(store),
                on_remote_notes=peers.take,
            )
            await life.start("live bus", lambda: live.start(hook), lambda _: live.stop())
            store.writes.add_listener(_publish_to(live))
            collection = Collection(store, clock=clock, backoff_base=backoff_base, demo=demo)
            collection.health.add_listener(live.publish_device_status)
            await life.start(
                "collection", lambda: collection.start(hook, schedule=False), lambda _: collection.stop()
            )
            stations = StationService(store, reading_limits(settings))
            leadership = Leadership(
                leader_lock(settings.database_url, settings.leader_timeout_seconds),
                timeout_seconds=settings.leader_timeout_seconds,
                clock=clock,
            )
            services = cls(
                settings=settings,
                store=store,
                live=live,
                collection=collection,
                clock=clock,
                stations=stations,
                readings=ReadingReader(store),
                leadership=leadership,
                auth=auth,
                demo=demo,
            )
            services.registry.on_change(lambda change: live.publish_registry(note_of(change)))
            auth.on_change(lambda: live.publish_registry(RegistryNote(TOKENS)))
            life.task("peers", lambda: peers.run(services._changed_elsewhere))
            leadership.duty("collection schedule", lambda _: collection.start_schedule(), collection.stop_schedule)
            if settings.station_monitor_enabled:
                # Always started on the leader: it replays a spool left by an earlier run even when no station
                # has a URL yet, and picks up stations that get one later. Stopped before the store closes: it
                # writes (or spools) what is buffered.
                leadership.duty("station monitor", services._start_monitor, services._stop_monitor)
                stations.on_change(services._refresh_monitor)
            await life.start("leadership", lambda: leadership.start(hook), lambda _: leadership.stop())
            services._warn_if_alone_on_the_bus()
            health = services.health_service = HealthService(settings, store, collection.metrics, clock)
            health.contribute("writeBacklog", services._backlog_health)
            life.task("health", health.run)
            cleanup_seconds = settings.cache_cleanup_interval_minutes * 60
            life.task("cache cleanup", _every(cleanup_seconds, services._cache_cleanup, "cache cleanup"))
            if settings.partition_cleanup_enabled:
                life.task(
                    "retention", _every(RETENTION_PERIOD_SECONDS, services._retention, "retention", at_once=True)
                )
            if settings.backup_schedule:
                schedule = services.backups = BackupSchedule(
                    settings, store.db.local_path, lambda: leadership.is_leader
                )
                await life.start("backup schedule", schedule.start, lambda _: schedule.stop())
            services._running = life.pop_all()
        return services

    # --- the leader's duties and periodic jobs ------------------------------------------------------------------

    async def _start_monitor(self, hook: LifecycleHook | None) -> None:
        monitor = StationMonitor(
            self.stations, MonitorConfig.from_settings(self.settings, self.store.db.local_path)
        )
        await monitor.start(hook)
        self.monitor = monitor

    async def _stop_monitor(self) -> None:
        monitor, self.monitor = self.monitor, None
        if monitor is not None:
            await monitor.stop()

    def _refresh_monitor(self) -> None:
        if self.monitor is not None:
            self.monitor.request_refresh()

    async def _retention(self) -> None:
        """Retention, on the leader only; the years it dropped are told to the other processes."""
        if not self.leadership.is_leader:
            return
        report = await self.store.apply_retention()
        if report.dropped_years:
            self.live.publish_registry(RegistryNote(PARTITIONS, deleted=True, ids=tuple(report.dropped_years)))

    async def _cache_cleanup(self) -> None:
        """This process's own memory, in every process: entries of points deleted elsewhere go, and the partition
        set is reloaded if the schema changed (years dropped by a command that could not tell anyone)."""
        await self.store.cache.cleanup(self.store.db)
        await self.store.partitions.refresh(self.store.db)

    # --- changes of other processes -------------------------------------------------------------------------

    async def _changed_elsewhere(self, note: RegistryNote) -> None:
        if note.kind == PARTITIONS:
            for year in note.ids:
                self.store.partitions.forget(year)
            return
        if note.kind == TOKENS:
            await self.auth.reload()  # a revoked token's sockets close here too
            return
        change = change_of(note)
        if change is None:
            log.warning("ignored a registry note of unknown kind %r from another process", note.kind)
            return
        await self.registry.changed_elsewhere(change)
        if change.kind == "everything":
            self._refresh_monitor()

    def _warn_if_alone_on_the_bus(self) -> None:
        if self.settings.broadcast_url.startswith("memory:") and not self.leadership.is_leader:
            log.warning(
                "another process leads on this database, but BROADCAST_URL=memory:// keeps live values and "
                "registry changes inside each process: set BROADCAST_URL=redis://… on every process "
                "(docs/scaling.md)"
            )

    async def stop(self) -> None:
        """Stops every part in the reverse order of `start`."""
        await self._running.aclose()

    async def __aenter__(self) -> Services:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def __post_init__(self) -> None:
        self.registry = Registry(self.store, self.collection, self.stations)

    # --- what the API reads beside the services ----------------------------------------------------------------

    def cached_values(self, point_ids: Iterable[int]) -> dict[int, CurrentValue]:
        """What the cache holds for these points, without counting lookups or asking devices (snapshots)."""
        cache = self.store.cache
        return {
            point_id: _current(entry, cache.is_fresh(entry))
            for point_id in point_ids
            if (entry := cache.peek(point_id)) is not None
        }

    def write_backlog(self) -> dict[str, Any]:
        """Whether the database takes writes, and what waits for it (docs/outages.md):
        the write breaker, the collector's backlog (count, oldest, spooled bytes) and the station monitor's."""
        monitor = self.monitor
        return {
            "database": _breaker_report(self.store.db.breaker.state()),
            "collector": self.collection.backlog.report(),
            "stationMonitor": None
            if monitor is None
            else {
                "buffered": monitor.buffered,
                "spooledBytes": monitor.spool.size(),
                "journaledBytes": monitor.journal_bytes(),
            },
        }

    def _backlog_health(self) -> Component:
        """The write backlog as a part of health (asked at every check; no database I/O): a warning while
        collected samples wait for the database or an entry went to the dead-letter file; the details are
        `write_backlog()`'s (docs/outages.md)."""
        backlog = self.write_backlog()
        collector = backlog["collector"]
        waiting = int(collector["samplesInMemory"]) + int(collector["spooledSamples"])
        dead = int(collector["deadLetters"])
        state = HealthState.WARNING if collector["pending"] or dead else HealthState.OK
        summary = f"{waiting} collected samples wait for the database; {dead} dead letters"
        database = backlog["database"]
        # The write breaker is open: writes were refused and are refused fast until one commits. That is "cannot
        # take a write" whatever the probe saw (a lock on the history tables alone leaves the probe's table free).
        refusing = f"the database refuses writes: {database['lastError']}" if database["refusing"] else None
        return Component(state, summary, details=backlog, not_ready=refusing)

    @property
    def health_checks(self) -> HealthService:
        """The health service (started with the others)."""
        assert self.health_service is not None, "Services.start sets it"
        return self.health_service

    async def health(self, *, details: bool = False) -> dict[str, Any]:
        """`details` adds the devices' and collection's last errors, which name addresses and ports: for admins
        only (a caller that could set a device's address could otherwise scan ports through them). `ready`,
        `notReady` (the reasons) and `health` (every metric with its state) come from the health service."""
        report = await self.health_checks.report()
        readiness = report.readiness
        stats = self.store.cache.stats()
        live = self.live.metrics_dict()
        collection = self.collection.report()
        if not details:
            collection.pop("lastError", None)
            for state in collection.get("devices", {}).values():
                state.pop("lastError", None)
                for point in state.get("failingPoints", ()):
                    point.pop("reason", None)
        return {
            "status": "ok" if live["connected"] else "degraded",
            "process": {"pid": os.getpid(), "host": socket.gethostname()},
            "leadership": self.leadership.report(),
            "database": self.store.db.label,
            "partitions": self.store.partitions.years,
            "cache": {
                "totalPoints": stats.total_points,
                "freshPoints": stats.fresh_points,
                "stalePoints": stats.stale_points,
                "cacheHitRate": stats.cache_hit_rate,
            },
            "live": live,
            "collection": collection,
            "writes": self.write_backlog(),
            "stationMonitor": None
            if self.monitor is None
            else {
                "stations": len(self.monitor.links()),
                "connected": sum(link.state == "CONNECTED" for link in self.monitor.links()),
                "databaseAvailable": self.monitor.stats.database_available,
                "spooled": self.monitor.stats.spooled,
                "buffered": self.monitor.buffered,
            },
            "ready": readiness.ready,
            "notReady": list(readiness.reasons),
            "health": report.as_json(),
        }

    async def readiness(self) -> Readiness:
        return await self.health_checks.readiness()


def _breaker_report(state: BreakerState) -> dict[str, Any]:
    return {
        "refusing": state.open,
        "refusingSinceMs": state.opened_at_ms,
        "lastError": state.last_error,
        "outages": state.opened,
        "refusedFast": state.refused_fast,
    }


def _remote_changes_into(store: Store) -> Callable[[list[StoredSample]], None]:
    def take_remote_changes(changes: list[StoredSample]) -> None:
        # Another process wrote these: keep this process's cache in step (by point, as ids are local).
        directory = store.points.directory
        known = [
            replace(change, point_id=point_id)
            for change in changes
            if (point_id := directory.get(change.point)) is not None
        ]
        store.cache.apply(known)

    return take_remote_changes


def _every(
    seconds: float, job: Callable[[], Awaitable[Any]], name: str, *, at_once: bool = False
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A periodic job's loop: `job()` every `seconds` (`at_once`: a first run right away); a failure is logged
    and the next run comes as planned."""

    async def loop() -> None:
        first = at_once
        while True:
            if not first:
                await asyncio.sleep(seconds)
            first = False
            try:
                await job()
            except Exception:
                log.exception("%s failed; it runs again in %s s", name, seconds)

    return loop


def _publish_to(live: LiveBus) -> Callable[[WriteResult], None]:
    def publish(result: WriteResult) -> None:
        live.publish_changes(result.changes)

    return publish


def _current(entry: CachedValue, fresh: bool) -> CurrentValue:
    return CurrentValue(entry.point_id, entry.value, entry.ts_ms, entry.source, stale=not fresh)
