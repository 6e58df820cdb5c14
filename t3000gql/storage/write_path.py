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
from itertools import islice, repeat
from operator import attrgetter, eq, is_, le
from typing import Any

from t3000gql.domain.audit import DONE, SYSTEM, Actor
from t3000gql.domain.samples import FutureLimit, Quality, Sample, StoredSample, check_samples
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import ValidationError
from t3000gql.storage import rollups
from t3000gql.storage.audit import AuditLog, AuditNote
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
_PLAIN_COLUMNS = ("point_id", "ts", "value")
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


@dataclass(frozen=True, slots=True)
class Audit:
    """Marks a write made on behalf of someone: it is audited in the values' own transaction.

    By default each sample that is new or changed a value gets an entry with the old and the new value (a
    person writing current values). `per_device` writes one entry per device instead, with how many samples,
    of which points, over which time (bulk history and readings). `pending_id` finishes a command's intent
    entry (see storage/audit.py) instead of writing new ones."""

    operation: str
    actor: Actor = SYSTEM
    per_device: bool = False
    pending_id: int | None = None
    detail: dict[str, Any] | None = None


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


_POINT, _TS, _VALUE = attrgetter("point"), attrgetter("ts_ms"), attrgetter("value")
_TREND_LOG, _QUALITY = attrgetter("trend_log_id"), attrgetter("quality")
"""Sample fields for C-level map() over a batch (Sample is a NamedTuple; attrgetter reads it in C)."""

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
        audit: AuditLog,
        *,
        max_skew_ms: int = 300_000,
    ) -> None:
        self._db = db
        self._points = points
        self._cache = cache
        self._partitions = partitions
        self._clock = clock
        self._audit = audit
        self._max_skew_ms = max_skew_ms
        self._listeners: list[Listener] = []
        self._source_ids: dict[str, int] = {}
        self._rollup_years = rollups.RollupYears()

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
        durable: bool = False,
    ) -> WriteResult:
        """Stores a batch all or nothing. A bad sample raises ValidationError naming its index; nothing is written.

        The same point and time twice (in the batch or against stored history) keeps one row: the last value.
        `extra` runs in the same transaction after the values (not at all for an empty batch). `durable`: the
        commit is on disk before this returns (`Database.writer`), for a caller about to delete its own copy.
        A database that refuses the write raises DatabaseUnavailable, fast while it is known to refuse writes.
        """
        if not source or len(source) > 50:
            raise ValidationError("must be a name of 1 to 50 characters", field="source", value=source)
        check_samples(samples, FutureLimit(self._clock(), self._max_skew_ms))
        point_ids = await self._points.resolve(map(_POINT, samples))
        try:
            pids = list(map(point_ids.__getitem__, map(_POINT, samples)))
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
        stamps = list(map(_TS, samples))
        latest_index = dict(zip(zip(pids, stamps, strict=True), range(count), strict=True))
        all_distinct = len(latest_index) == count
        by_year = self._group_by_year(stamps, range(count) if all_distinct else list(latest_index.values()))

        created_years: list[int] = []
        unchanged_idx: set[int] = set()
        existing = 0
        old_values: dict[int, float | None] = {}
        if audit is not None and not audit.per_device:
            old_values = {pid: (entry.value if (entry := self._cache.peek(pid)) else None) for pid in set(pids)}
        now = self._clock()
        try:
            async with self._db.writer(durable=durable) as conn:
                source_id = await self._source_id(conn, source)
                for year in sorted(by_year):
                    if year not in self._partitions.years:
                        created_years.append(year)
                        self._rollup_years.known.discard(year)  # dropped elsewhere, perhaps: check again
                    table = await self._partitions.ensure(conn, year)
                    await rollups.ensure_year(conn, year, self._rollup_years, raw_is_new=False)
                    indices = by_year[year]
                    found = await self._write_year(
                        conn, table, samples, pids, stamps, indices, source_id, unchanged_idx
                    )
                    existing += max(found, 0)
                    # the rollups of the buckets these samples fall in: extended by the new samples when all were
                    # new, else recounted from the rows just written
                    whole = isinstance(indices, range) and len(indices) == count
                    year_pids = pids if whole else [pids[i] for i in indices]
                    year_stamps = stamps if whole else [stamps[i] for i in indices]
                    if found < 0:
                        values = (
                            list(map(float, map(_VALUE, samples)))
                            if whole
                            else [float(samples[i].value) for i in indices]
                        )
                        await rollups.append(conn, year, year_pids, year_stamps, values)
                    else:
                        await rollups.update(conn, year, year_pids, year_stamps)

                changed: Sequence[int]
                if all_distinct and not unchanged_idx:
                    changed = range(count)
                else:
                    changed = [i for i in sorted(latest_index.values()) if i not in unchanged_idx]
                # the newest changed sample of each point: in time order, the last one written per point wins
                if isinstance(changed, range) and all(map(le, stamps, islice(stamps, 1, None))):
                    newest = dict(zip(pids, changed, strict=True))  # in time order already (an import): no sort
                else:
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
                    await self._write_audit(conn, audit, samples, changed, old_values, pids, source, now)
                if extra is not None:
                    await extra(conn, WriteContext(source_id, now, samples, changed))
        except BaseException:
            for year in created_years:  # the CREATE TABLE was rolled back with everything else
                self._partitions.forget(year)
            self._rollup_years.known.clear()  # a rollup table made in this transaction is gone again
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

    async def _write_year(
        self,
        conn: Connection,
        table: str,
        samples: Sequence[Sample],
        pids: list[int],
        stamps: list[int],
        indices: Sequence[int],
        source_id: int,
        unchanged_idx: set[int],
    ) -> int:
        """One year's rows: all inserted at once when all are new (-1), else merged: returns how many existed;
        the indices whose stored value was equal join `unchanged_idx`."""
        columns, new_rows, constants = self._new_rows(samples, pids, stamps, indices, source_id)
        if await conn.insert_new(table, columns, new_rows, constants):
            return -1
        rows = self._rows(samples, pids, stamps, indices, source_id)
        found, same = await self._merge(conn, table, rows, indices)
        unchanged_idx.update(same)
        return found

    async def _write_audit(
        self,
        conn: Connection,
        audit: Audit,
        samples: Sequence[Sample],
        changed: Sequence[int],
        old_values: Mapping[int, float | None],
        pids: Sequence[int],
        source: str,
        now: int,
    ) -> None:
        if audit.pending_id is not None:
            await self._audit.finish_in(conn, audit.pending_id, DONE, audit.detail)
            return
        if not audit.per_device:
            notes = [
                AuditNote(
                    audit.operation,
                    audit.actor,
                    device_id=(ref := samples[i].point).device_id,
                    point_type=int(ref.point_type),
                    point_number=ref.point_number,
                    old_value=old_values.get(pids[i]),
                    new_value=float(samples[i].value),
                    source=source,
                    detail=audit.detail,
                )
                for i in changed
            ]
            await self._audit.record_in(conn, notes, now_ms=now)
            return
        changed_set = set(changed)
        by_device: dict[int, list[int]] = defaultdict(list)
        for index, sample in enumerate(samples):
            by_device[sample.point.device_id].append(index)
        notes = []
        for device_id, indexes in by_device.items():
            stamps = [samples[i].ts_ms for i in indexes]
            summary = {
                "samples": len(indexes),
                "changed": sum(1 for i in indexes if i in changed_set),
                "points": len({samples[i].point for i in indexes}),
                "first_ts": min(stamps),
                "last_ts": max(stamps),
                **(audit.detail or {}),
            }
            notes.append(
                AuditNote(audit.operation, audit.actor, device_id=device_id, source=source, detail=summary)
            )
        await self._audit.record_in(conn, notes, now_ms=now)

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
            # C-level iterators: per-sample work on the hottest path. int(): sqlite3 binds an IntEnum through
            # its adapter lookup, at twice the cost of an int.
            values = map(float, map(_VALUE, samples))
            qualities = map(int, map(_QUALITY, samples))
            return list(zip(pids, stamps, values, map(_TREND_LOG, samples), qualities, repeat(source_id)))
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

    @classmethod
    def _new_rows(
        cls,
        samples: Sequence[Sample],
        pids: list[int],
        stamps: list[int],
        indices: Sequence[int],
        source_id: int,
    ) -> tuple[tuple[str, ...], list[tuple[Any, ...]], dict[str, int | None]]:
        """The columns, rows and constant columns of the new rows. A whole batch of plain samples (no trend
        log, quality GOOD: an import's, an API write's) is sent as three values per row with the other three
        as constants (`Connection.insert_new`): binding is most of SQLite's cost per row, and writing them into
        the statement saves ~0.4 us of it per sample (a quarter), on the thread every write waits for."""
        plain = (
            isinstance(indices, range)
            and len(indices) == len(samples)
            and all(map(is_, map(_TREND_LOG, samples), repeat(None)))
            and all(map(eq, map(_QUALITY, samples), repeat(Quality.GOOD)))
        )
        if plain:
            constants: dict[str, int | None] = {
                "trend_log_id": None,
                "quality": int(Quality.GOOD),
                "source_id": int(source_id),
            }
            return (
                _PLAIN_COLUMNS,
                list(zip(pids, stamps, map(float, map(_VALUE, samples)), strict=True)),
                constants,
            )
        return _COLUMNS, cls._rows(samples, pids, stamps, indices, source_id), {}

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
