"""Where each health metric comes from, measured in this process at the time of the check.

Seed 000's SystemHealthMetrics, plus the disk usage of the database's volume and the process's memory:

| Metric | Measured as |
|---|---|
| cacheHitRate | fresh lookups / all lookups of current values in the window (null: no lookup) |
| cacheSizeBytes | `sys.getsizeof` of the cache's arrays and maps |
| cacheEvictionRate | values dropped from the cache (points deleted) per minute in the window |
| databaseConnectionCount | connections open now (writer and readers) |
| databaseQueryTimeAvgMs | average time of a read (a reader held) or write transaction in the window (null: none) |
| databaseSizeBytes | SQLite's file with WAL and shared memory; PostgreSQL's `pg_database_size` |
| collectionSuccessRate | successful runs / runs in the last hour (null: no run; only the leader collects) |
| collectionLatencyAvgMs | average run time in the last hour, failed runs included |
| failedCollectionsLastHour | failed runs in the last hour |
| apiRequestsPerMinute | GraphQL and REST requests per minute in the window |
| apiResponseTimeAvgMs | their average time to answer (null: no request) |
| apiErrorRate | share of them answered with an error (null: no request) |
| diskUsage | used / size of the volume holding the SQLite file (PostgreSQL: the volume of the working directory, where spool and backups go; the server's own disk is its host's to watch) |
| processMemoryBytes | resident set size (`/proc/self/statm`) |
"""

from __future__ import annotations

import os
import resource
import shutil
from dataclasses import dataclass
from pathlib import Path

from t3000gql.collect.metrics import CollectionMetrics
from t3000gql.config import Settings
from t3000gql.domain.health import MetricReading, Threshold
from t3000gql.domain.timeutil import Clock
from t3000gql.health.requests import RequestStats
from t3000gql.health.window import Counters, CounterWindow
from t3000gql.storage.database import DatabaseProbe
from t3000gql.storage.store import Store


@dataclass(frozen=True, slots=True)
class Thresholds:
    cache_hit_rate: Threshold
    db_query_ms: Threshold
    collection_success: Threshold
    api_response_ms: Threshold
    disk_usage: Threshold

    @classmethod
    def of(cls, settings: Settings) -> Thresholds:
        """Rates and shares are ratios (0 to 1) in the report; the settings give percentages."""
        return cls(
            cache_hit_rate=Threshold(
                settings.health_cache_hit_rate_warning_percent / 100,
                settings.health_cache_hit_rate_critical_percent / 100,
                high_is_bad=False,
            ),
            db_query_ms=Threshold(
                settings.health_db_query_warning_ms, settings.health_db_query_critical_ms, high_is_bad=True
            ),
            collection_success=Threshold(
                settings.health_collection_success_warning_percent / 100,
                settings.health_collection_success_critical_percent / 100,
                high_is_bad=False,
            ),
            api_response_ms=Threshold(
                settings.health_api_response_warning_ms, settings.health_api_response_critical_ms, high_is_bad=True
            ),
            disk_usage=Threshold(
                settings.health_disk_usage_warning_percent / 100,
                settings.health_disk_usage_critical_percent / 100,
                high_is_bad=True,
            ),
        )


class Measurer:
    def __init__(
        self,
        store: Store,
        collection: CollectionMetrics,
        requests: RequestStats,
        thresholds: Thresholds,
        window_seconds: float,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._store = store
        self._collection = collection
        self._requests = requests
        self.thresholds = thresholds
        self._window = CounterWindow(window_seconds)
        self.counters()  # the first snapshot: rates are measured from here on

    def counters(self) -> Counters:
        """The counters now, with the window's delta (see window.py)."""
        cache, timings, requests = self._store.cache, self._store.db.timings, self._requests
        now = Counters(
            at=self._clock() / 1000,
            requests=requests.requests,
            request_seconds=requests.seconds,
            request_errors=requests.errors,
            queries=timings.count,
            query_seconds=timings.seconds,
            cache_hits=cache.hits,
            cache_misses=cache.misses,
            cache_evictions=cache.evictions,
        )
        return self._window.over_window(now)

    def readings(self, probe: DatabaseProbe) -> list[MetricReading]:
        limits = self.thresholds
        seen = self.counters()
        db = self._store.db
        hour = self._collection.last_hour()
        lookups = seen.cache_hits + seen.cache_misses
        per_minute = 60 / seen.at if seen.at > 0 else None
        return [
            MetricReading(
                "cacheHitRate",
                seen.cache_hits / lookups if lookups else None,
                "ratio",
                "Share of current-value lookups answered fresh from the cache in the window.",
                limits.cache_hit_rate,
            ),
            MetricReading("cacheSizeBytes", self._store.cache.size_bytes(), "bytes", "Memory the cache holds."),
            MetricReading(
                "cacheEvictionRate",
                None if per_minute is None else seen.cache_evictions * per_minute,
                "per minute",
                "Values dropped from the cache (their point was deleted) per minute in the window.",
            ),
            MetricReading(
                "databaseConnectionCount", db.connection_count, "connections", "Database connections open now."
            ),
            MetricReading(
                "databaseQueryTimeAvgMs",
                seen.query_seconds / seen.queries * 1000 if seen.queries else None,
                "ms",
                "Average time of a read or a write transaction in the window.",
                limits.db_query_ms,
            ),
            MetricReading("databaseSizeBytes", probe.size_bytes, "bytes", "What the database takes on disk."),
            MetricReading(
                "collectionSuccessRate",
                hour.success_rate,
                "ratio",
                "Share of collection runs that succeeded in the last hour.",
                limits.collection_success,
            ),
            MetricReading(
                "collectionLatencyAvgMs",
                hour.latency_avg_ms,
                "ms",
                "Average collection run time in the last hour.",
            ),
            MetricReading(
                "failedCollectionsLastHour", hour.failures, "runs", "Failed collection runs, last hour."
            ),
            MetricReading(
                "apiRequestsPerMinute",
                None if per_minute is None else seen.requests * per_minute,
                "per minute",
                "GraphQL and REST requests per minute in the window.",
            ),
            MetricReading(
                "apiResponseTimeAvgMs",
                seen.request_seconds / seen.requests * 1000 if seen.requests else None,
                "ms",
                "Average time to answer an API request in the window.",
                limits.api_response_ms,
            ),
            MetricReading(
                "apiErrorRate",
                seen.request_errors / seen.requests if seen.requests else None,
                "ratio",
                "Share of API requests answered with an error in the window.",
            ),
            MetricReading(
                "diskUsage",
                disk_usage(db.local_path),
                "ratio",
                "Used share of the volume that holds the database.",
                limits.disk_usage,
            ),
            MetricReading(
                "processMemoryBytes", process_memory_bytes(), "bytes", "Resident memory of this process."
            ),
        ]


def disk_usage(path: str) -> float | None:
    """Used / total of the volume holding `path` (its nearest existing folder); None when it cannot be read."""
    folder = Path(path).absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return None
    return usage.used / usage.total if usage.total else None


def process_memory_bytes() -> int:
    """Resident set size now (Linux); elsewhere the peak, which is what `getrusage` knows."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
