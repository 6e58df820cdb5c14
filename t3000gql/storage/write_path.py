"""The one write path: validate the whole batch → history + cache in one transaction → tell listeners.

Every value goes through `WritePath.record`, whatever its source (API, collector, station monitor, log import).
Listeners (the live bus) are called only after the commit, so nobody ever sees a value that was rolled back.

A caller that keeps rows *about* the values (a station reading's arrival time and source, an import checkpoint)
passes an `extra` hook: it runs on the writer connection inside the same transaction, after the values are
merged, so those rows commit or roll back together with the values. Values themselves are written here only.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiosqlite

from t3000gql.domain.samples import Sample, StoredSample, check_samples
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import ValidationError
from t3000gql.storage.cache import RealtimeCache
from t3000gql.storage.database import Database
from t3000gql.storage.partitions import PartitionSet, year_of_ms
from t3000gql.storage.points import PointRepository

log = logging.getLogger(__name__)

# Incoming rows are staged in a temporary table so that "which of these existed, which changed" is answered by
# one join per partition instead of one query per sample.
_CREATE_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS incoming (
    idx INTEGER PRIMARY KEY, point_id INTEGER, ts INTEGER, value REAL,
    trend_log_id INTEGER, quality INTEGER, source_id INTEGER
)
"""
_STAGE = "INSERT INTO temp.incoming VALUES (?, ?, ?, ?, ?, ?, ?)"
_EXISTING = (
    "SELECT i.idx, p.value = i.value FROM temp.incoming AS i "
    "JOIN {table} AS p ON p.point_id = i.point_id AND p.ts = i.ts"
)
_MERGE = (
    "INSERT INTO {table} (point_id, ts, value, trend_log_id, quality, source_id) "
    "SELECT point_id, ts, value, trend_log_id, quality, source_id FROM temp.incoming WHERE true "
    "ON CONFLICT (point_id, ts) DO UPDATE SET value = excluded.value, trend_log_id = excluded.trend_log_id, "
    "quality = excluded.quality, source_id = excluded.source_id"
)
_CACHE_UPSERT = (
    "INSERT INTO realtime_data_cache (point_id, value, ts, source, updated_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (point_id) DO UPDATE SET value = excluded.value, ts = excluded.ts, source = excluded.source, "
    "updated_at = excluded.updated_at WHERE excluded.ts >= realtime_data_cache.ts"
)
_AUDIT = (
    "INSERT INTO audit_log (ts, operation, user_id, device_id, point_type, point_number, old_value, new_value, "
    "source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class Audit:
    """Marks a write made on behalf of a caller: each sample gets an audit_log entry."""

    operation: str
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    inserted: int
    updated: int
    unchanged: int
    changes: list[StoredSample] = field(repr=False)
    """Samples that are new or changed a stored value, in the order given: what the live bus publishes."""


@dataclass(frozen=True, slots=True)
class WriteContext:
    """What an `extra` hook is told inside the write transaction."""

    source_id: int
    now_ms: int
    changes: Sequence[StoredSample]
    """Samples that are new or changed a stored value (as in `WriteResult.changes`)."""


Listener = Callable[[WriteResult], None]
ExtraWrite = Callable[[aiosqlite.Connection, WriteContext], Awaitable[None]]


class WritePath:
    def __init__(
        self,
        db: Database,
        points: PointRepository,
        cache: RealtimeCache,
        partitions: PartitionSet,
        clock: Clock,
    ) -> None:
        self._db = db
        self._points = points
        self._cache = cache
        self._partitions = partitions
        self._clock = clock
        self._listeners: list[Listener] = []
        self._source_ids: dict[str, int] = {}

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    async def load_sources(self) -> None:
        rows = await self._db.fetch_all("SELECT id, source FROM data_sources")
        self._source_ids = {name: sid for sid, name in rows}

    async def _source_id(self, conn: aiosqlite.Connection, source: str) -> int:
        sid = self._source_ids.get(source)
        if sid is None:
            await conn.execute(
                "INSERT OR IGNORE INTO data_sources (source, created_at) VALUES (?, ?)", (source, self._clock())
            )
            async with conn.execute("SELECT id FROM data_sources WHERE source = ?", (source,)) as cursor:
                row = await cursor.fetchone()
            assert row is not None
            sid = int(row[0])
        return sid

    async def record(
        self,
        samples: Sequence[Sample],
        source: str,
        *,
        audit: Audit | None = None,
        extra: ExtraWrite | None = None,
    ) -> WriteResult:
        """Stores a batch all or nothing. A bad sample raises ValidationError naming its index; nothing is written.

        The same point and time twice (in the batch or against stored history) keeps one row: the last value.
        `extra` runs in the same transaction after the values (not at all for an empty batch).
        """
        if not source or len(source) > 50:
            raise ValidationError("must be a name of 1 to 50 characters", field="source", value=source)
        check_samples(samples)
        point_ids = await self._points.resolve(sample.point for sample in samples)
        for index, sample in enumerate(samples):
            if sample.point not in point_ids:
                raise ValidationError(
                    "is not a known point (create it first)", field="point", index=index, value=str(sample.point)
                )
        if not samples:
            return WriteResult(0, 0, 0, [])

        # Last value wins for a repeated (point, time); rows are grouped by the year partition they belong to.
        latest_index: dict[tuple[int, int], int] = {}
        for index, sample in enumerate(samples):
            latest_index[(point_ids[sample.point], sample.ts_ms)] = index
        by_year: dict[int, list[int]] = defaultdict(list)
        for (_pid, ts), index in latest_index.items():
            by_year[year_of_ms(ts)].append(index)

        created_years: list[int] = []
        unchanged_idx: set[int] = set()
        existing = 0
        old_values: dict[int, float | None] = {}
        if audit is not None:
            old_values = {
                pid: (entry.value if (entry := self._cache.peek(pid)) else None) for pid in point_ids.values()
            }
        now = self._clock()
        try:
            async with self._db.writer() as conn:
                source_id = await self._source_id(conn, source)
                await conn.execute(_CREATE_STAGING)
                for year in sorted(by_year):
                    if year not in self._partitions.years:
                        created_years.append(year)
                    table = await self._partitions.ensure(conn, year)
                    await conn.execute("DELETE FROM temp.incoming")
                    await conn.executemany(
                        _STAGE,
                        [
                            (
                                index,
                                point_ids[(s := samples[index]).point],
                                s.ts_ms,
                                float(s.value),
                                s.trend_log_id,
                                int(s.quality),
                                source_id,
                            )
                            for index in by_year[year]
                        ],
                    )
                    if year not in created_years:
                        async with conn.execute(_EXISTING.format(table=table)) as cursor:
                            for index, same in await cursor.fetchall():
                                existing += 1
                                if same:
                                    unchanged_idx.add(index)
                    await conn.execute(_MERGE.format(table=table))
                await conn.execute("DELETE FROM temp.incoming")

                changes = [
                    StoredSample(
                        point=s.point,
                        point_id=point_ids[s.point],
                        ts_ms=s.ts_ms,
                        value=float(s.value),
                        source=source,
                        trend_log_id=s.trend_log_id,
                    )
                    for index in sorted(latest_index.values())
                    if index not in unchanged_idx
                    for s in (samples[index],)
                ]
                newest: dict[int, StoredSample] = {}
                for change in changes:
                    current = newest.get(change.point_id)
                    if current is None or change.ts_ms >= current.ts_ms:
                        newest[change.point_id] = change
                if newest:
                    await conn.executemany(
                        _CACHE_UPSERT,
                        [(c.point_id, c.value, c.ts_ms, c.source, now) for c in newest.values()],
                    )
                if audit is not None:
                    await conn.executemany(
                        _AUDIT,
                        [
                            (
                                now,
                                audit.operation,
                                audit.user_id,
                                c.point.device_id,
                                int(c.point.point_type),
                                c.point.point_number,
                                old_values.get(c.point_id),
                                c.value,
                                source,
                            )
                            for c in changes
                        ],
                    )
                if extra is not None:
                    await extra(conn, WriteContext(source_id=source_id, now_ms=now, changes=changes))
        except BaseException:
            for year in created_years:  # the CREATE TABLE was rolled back with everything else
                self._partitions.forget(year)
            raise
        self._source_ids[source] = source_id
        self._cache.apply(newest.values())
        result = WriteResult(
            inserted=len(latest_index) - existing,
            updated=existing - len(unchanged_idx),
            unchanged=len(unchanged_idx) + (len(samples) - len(latest_index)),
            changes=changes,
        )
        for listener in self._listeners:
            try:
                listener(result)
            except Exception:
                log.exception("a write listener failed; the write itself is committed")
        return result
