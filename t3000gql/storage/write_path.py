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
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from t3000gql.domain.samples import Sample, StoredSample, check_samples
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import ValidationError
from t3000gql.storage.cache import RealtimeCache
from t3000gql.storage.connection import Connection
from t3000gql.storage.database import Database
from t3000gql.storage.partitions import PartitionSet, year_bounds, year_of_ms
from t3000gql.storage.points import PointRepository

log = logging.getLogger(__name__)

# Incoming rows that meet stored ones are staged in a temporary table (the dialect's `staging_table`, private
# to the connection) so that "which of these existed, which changed" is answered by one join per partition
# and the merge is one statement, instead of one query per sample.
_COLUMNS = ("point_id", "ts", "value", "trend_log_id", "quality", "source_id")
_STAGED = ("idx", *_COLUMNS)
_EXISTING = (
    "SELECT i.idx, p.value = i.value FROM incoming AS i "
    "JOIN {table} AS p ON p.point_id = i.point_id AND p.ts = i.ts"
)
_MERGE = (
    "INSERT INTO {table} (point_id, ts, value, trend_log_id, quality, source_id) "
    "SELECT point_id, ts, value, trend_log_id, quality, source_id FROM incoming WHERE true "
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
    """Samples that are new or changed a stored value, in the order given: what the live bus publishes.
    Built only while a listener is registered (empty otherwise): bulk writers without one skip the cost."""


@dataclass(frozen=True, slots=True)
class WriteContext:
    """What an `extra` hook is told inside the write transaction."""

    source_id: int
    now_ms: int
    samples: Sequence[Sample]
    changed: Sequence[int]
    """Indexes into `samples` of those that are new or changed a stored value (as `WriteResult.changes`)."""


Listener = Callable[[WriteResult], None]
ExtraWrite = Callable[[Connection, WriteContext], Awaitable[None]]


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

    async def _source_id(self, conn: Connection, source: str) -> int:
        sid = self._source_ids.get(source)
        if sid is None:
            await conn.execute(
                "INSERT INTO data_sources (source, created_at) VALUES (?, ?) ON CONFLICT (source) DO NOTHING",
                (source, self._clock()),
            )
            row = await conn.fetch_one("SELECT id FROM data_sources WHERE source = ?", (source,))
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
        try:
            pids = [point_ids[sample.point] for sample in samples]
        except KeyError:
            index = next(i for i, s in enumerate(samples) if s.point not in point_ids)
            raise ValidationError(
                "is not a known point (create it first)",
                field="point",
                index=index,
                value=str(samples[index].point),
            ) from None
        if not samples:
            return WriteResult(0, 0, 0, [])

        # Last value wins for a repeated (point, time); rows are grouped by the year partition they belong to.
        # Built with zip/dict in C: this is per-sample work on the hottest path (bulk imports).
        count = len(samples)
        stamps = [sample.ts_ms for sample in samples]
        latest_index = dict(zip(zip(pids, stamps, strict=True), range(count), strict=True))
        all_distinct = len(latest_index) == count
        by_year = self._group_by_year(stamps, range(count) if all_distinct else list(latest_index.values()))

        created_years: list[int] = []
        unchanged_idx: set[int] = set()
        existing = 0
        old_values: dict[int, float | None] = {}
        if audit is not None:
            old_values = {pid: (entry.value if (entry := self._cache.peek(pid)) else None) for pid in set(pids)}
        now = self._clock()
        try:
            async with self._db.writer() as conn:
                source_id = await self._source_id(conn, source)
                for year in sorted(by_year):
                    if year not in self._partitions.years:
                        created_years.append(year)
                    table = await self._partitions.ensure(conn, year)
                    rows = self._rows(samples, pids, stamps, by_year[year], source_id)
                    if await conn.insert_new(table, _COLUMNS, rows):
                        continue
                    found, same = await self._merge(conn, table, rows, by_year[year])
                    existing += found
                    unchanged_idx.update(same)

                if all_distinct and not unchanged_idx:
                    changed: list[int] = list(range(count))
                else:
                    changed = [i for i in sorted(latest_index.values()) if i not in unchanged_idx]
                # the newest changed sample of each point: in time order, the last one written per point wins
                by_time = sorted(changed, key=stamps.__getitem__)
                newest = dict(zip([pids[i] for i in by_time], by_time, strict=True))
                if newest:
                    await conn.executemany(
                        _CACHE_UPSERT,
                        [
                            (pid, float(samples[i].value), samples[i].ts_ms, source, now)
                            for pid, i in newest.items()
                        ],
                    )
                if audit is not None:
                    await conn.executemany(
                        _AUDIT,
                        [
                            (
                                now,
                                audit.operation,
                                audit.user_id,
                                (ref := samples[i].point).device_id,
                                int(ref.point_type),
                                ref.point_number,
                                old_values.get(pids[i]),
                                float(samples[i].value),
                                source,
                            )
                            for i in changed
                        ],
                    )
                if extra is not None:
                    await extra(conn, WriteContext(source_id, now, samples, changed))
        except BaseException:
            for year in created_years:  # the CREATE TABLE was rolled back with everything else
                self._partitions.forget(year)
            raise
        self._source_ids[source] = source_id
        self._cache.apply(self._stored(samples, pids, newest.values(), source))
        result = WriteResult(
            inserted=len(latest_index) - existing,
            updated=existing - len(unchanged_idx),
            unchanged=len(unchanged_idx) + (len(samples) - len(latest_index)),
            changes=self._stored(samples, pids, changed, source) if self._listeners else [],
        )
        for listener in self._listeners:
            try:
                listener(result)
            except Exception:
                log.exception("a write listener failed; the write itself is committed")
        return result

    @staticmethod
    def _group_by_year(stamps: list[int], indices: Sequence[int]) -> Mapping[int, Sequence[int]]:
        """Sample indices per year partition (most batches lie within one year: one check, no loop)."""
        chosen = stamps if len(indices) == len(stamps) else [stamps[i] for i in indices]
        first, last = year_of_ms(min(chosen)), year_of_ms(max(chosen))
        if first == last:
            return {first: indices}
        by_year: dict[int, list[int]] = defaultdict(list)
        year, year_start, year_end = first, *year_bounds(first)
        for index in indices:
            ts = stamps[index]
            if not year_start <= ts < year_end:
                year = year_of_ms(ts)
                year_start, year_end = year_bounds(year)
            by_year[year].append(index)
        return by_year

    @staticmethod
    def _rows(
        samples: Sequence[Sample], pids: list[int], stamps: list[int], indices: Sequence[int], source_id: int
    ) -> list[tuple[Any, ...]]:
        if isinstance(indices, range) and len(indices) == len(samples):  # the whole batch, in order
            return list(
                zip(
                    pids,
                    stamps,
                    [float(s.value) for s in samples],
                    [s.trend_log_id for s in samples],
                    [int(s.quality) for s in samples],
                    repeat(source_id),
                    strict=False,  # repeat() is endless
                )
            )
        return [
            (pids[i], stamps[i], float((s := samples[i]).value), s.trend_log_id, int(s.quality), source_id)
            for i in indices
        ]

    @staticmethod
    def _stored(
        samples: Sequence[Sample], pids: list[int], indices: Iterable[int], source: str
    ) -> list[StoredSample]:
        return [
            StoredSample(
                point=(s := samples[i]).point,
                point_id=pids[i],
                ts_ms=s.ts_ms,
                value=float(s.value),
                source=source,
                trend_log_id=s.trend_log_id,
            )
            for i in indices
        ]

    async def _merge(
        self, conn: Connection, table: str, rows: list[tuple[Any, ...]], indices: Sequence[int]
    ) -> tuple[int, list[int]]:
        """Upserts rows of which some exist; returns (how many existed, indices whose stored value was equal).
        The rows are staged in bulk (COPY on PostgreSQL), then merged by one statement (on PostgreSQL the same
        statement says which existed; SQLite asks first)."""
        await conn.execute(conn.dialect.staging_table)
        await conn.execute("DELETE FROM incoming")
        await conn.copy_rows("incoming", _STAGED, [(i, *row) for i, row in zip(indices, rows, strict=True)])
        found = 0
        same: list[int] = []
        query, then = conn.dialect.merge_reporting(_EXISTING.format(table=table), _MERGE.format(table=table))
        for index, equal in await conn.fetch_all(query):
            found += 1
            if equal:
                same.append(index)
        if then is not None:
            await conn.execute(then)
        await conn.execute("DELETE FROM incoming")
        return found, same
