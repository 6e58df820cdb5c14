"""`Store` bundles everything of the storage layer behind one object, opened in the app's lifespan.

Open it with `await Store.open(settings)` and close it with `await store.close()` (or `async with store:`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from t3000gql.config import Settings
from t3000gql.domain.audit import SYSTEM, Actor
from t3000gql.domain.timeutil import Clock, system_clock
from t3000gql.lifecycle import Lifecycle, LifecycleHook
from t3000gql.storage.archive import archive_dir_of
from t3000gql.storage.archive_restore import ArchiveRestoreReport, restore_archive
from t3000gql.storage.audit import AuditLog
from t3000gql.storage.backup import backup_before_migration
from t3000gql.storage.cache import RealtimeCache
from t3000gql.storage.database import DEFAULT_CACHE_KIB, Database
from t3000gql.storage.devices import DeviceRepository
from t3000gql.storage.history import HistoryReader
from t3000gql.storage.import_checkpoints import CheckpointRepository
from t3000gql.storage.migrations import migrate
from t3000gql.storage.partitions import PartitionSet
from t3000gql.storage.points import PointRepository
from t3000gql.storage.power_readings import PowerReadingRepository
from t3000gql.storage.retention import RetentionReport, apply_retention
from t3000gql.storage.stations import StationRepository
from t3000gql.storage.tokens import TokenRepository
from t3000gql.storage.trend_logs import TrendLogRepository
from t3000gql.storage.write_path import WritePath

log = logging.getLogger(__name__)


@dataclass
class Store:
    settings: Settings
    clock: Clock
    db: Database
    partitions: PartitionSet
    cache: RealtimeCache
    devices: DeviceRepository
    points: PointRepository
    trend_logs: TrendLogRepository
    writes: WritePath
    history: HistoryReader
    audit: AuditLog
    stations: StationRepository
    power_readings: PowerReadingRepository
    import_checkpoints: CheckpointRepository
    tokens: TokenRepository
    _running: Lifecycle = field(default_factory=Lifecycle, repr=False)

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        run_migrations: bool = True,
        cache_kib: int = DEFAULT_CACHE_KIB,
        hook: LifecycleHook | None = None,
    ) -> Store:
        """Connects, migrates (unless told not to) and loads what lives in memory (cache, point ids); when a
        step fails, the database is closed again and the error raised."""
        db = Database.for_url(
            settings.database_url,
            pool_size=settings.database_pool_size,
            busy_timeout_ms=settings.database_busy_timeout_ms,
            cache_kib=cache_kib,
        )
        async with Lifecycle("store", hook) as life:
            await life.start("database", db.connect, lambda _: db.disconnect())
            if run_migrations:
                await migrate(db, before_change=backup_before_migration(settings, db.local_path))
            partitions = PartitionSet()
            async with db.reader() as conn:
                await partitions.load(conn)
            cache = RealtimeCache(clock, settings.cache_duration_seconds)
            points = PointRepository(db, clock, on_delete=lambda point_id: cache.forget([point_id]))

            def forget_device(device_id: int) -> None:
                cache.forget(points.directory.drop_device(device_id))

            devices = DeviceRepository(db, clock, on_delete=forget_device)

            audit = AuditLog(db, clock)
            store = cls(
                settings=settings,
                clock=clock,
                db=db,
                partitions=partitions,
                cache=cache,
                devices=devices,
                points=points,
                trend_logs=TrendLogRepository(db, points, clock, settings.default_trend_interval_seconds),
                writes=WritePath(
                    db, points, cache, partitions, clock, audit, max_skew_ms=settings.max_clock_skew_seconds * 1000
                ),
                history=HistoryReader(db, partitions),
                audit=audit,
                tokens=TokenRepository(db),
                stations=StationRepository(db, devices, points, clock),
                power_readings=PowerReadingRepository(db, partitions),
                import_checkpoints=CheckpointRepository(db),
            )
            await cache.load(db)
            await points.load_directory()
            await store.writes.load_sources()
            await db.release_memory()  # the loads above read whole tables; their pages are not needed now
            store._running = life.pop_all()
        return store

    async def close(self) -> None:
        await self._running.aclose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def forget_devices(self, device_ids: Sequence[int]) -> None:
        """Another process changed these devices or their points: what is kept in memory about them is dropped
        or read again, and the cached values of their points that are gone are dropped (docs/scaling.md)."""
        self.devices.forget(device_ids)
        self.cache.forget(await self.points.reload_devices(device_ids))

    async def forget_everything(self) -> None:
        """What `forget_devices` does, for every device, and the partition set reloaded: after a gap in the live
        bus, when changes of other processes may have gone unheard."""
        self.devices.forget()
        await self.points.load_directory()
        await self.cache.cleanup(self.db)
        await self.partitions.refresh(self.db)

    @property
    def archive_dir(self) -> Path:
        """ARCHIVE_DIR, or beside the database when it is empty."""
        return archive_dir_of(self.settings.archive_dir, self.db.local_path)

    async def apply_retention(
        self, *, actor: Actor = SYSTEM, dry_run: bool = False, days: int | None = None
    ) -> RetentionReport:
        """Archives, verifies, then removes history older than DATA_RETENTION_DAYS (storage/retention.py)."""
        return await apply_retention(
            self.db,
            self.partitions,
            self.clock,
            days if days is not None else self.settings.data_retention_days,
            archive_dir=self.archive_dir,
            audit=self.audit,
            actor=actor,
            dry_run=dry_run,
        )

    async def restore_archive(self, path: Path, *, actor: Actor = SYSTEM) -> ArchiveRestoreReport:
        """Loads a retention archive back: history through the write path, readings' index rows by their owner."""
        return await restore_archive(self, path, actor=actor)
