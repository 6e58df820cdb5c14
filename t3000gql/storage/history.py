"""The read path for history: ranges, aggregation and latest values across yearly partitions.

Ranges are half-open [start, end) in epoch ms, oldest first. A limit never drops the oldest part of a range
silently: the series says it was truncated and where to continue (`next_start`). Many points are read in one
statement per partition (one list parameter of ids), so the number of statements does not grow with the points.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from t3000gql.domain.calendar import CalendarUnit, boundaries, fixed_boundaries, zone
from t3000gql.domain.samples import Aggregate
from t3000gql.errors import ValidationError
from t3000gql.storage import rollups
from t3000gql.storage.connection import Connection
from t3000gql.storage.database import Database
from t3000gql.storage.dialects import Dialect
from t3000gql.storage.partitions import PartitionSet, partition_table, year_bounds


def _ids(dialect: Dialect, point_ids: Sequence[int]) -> tuple[str, Any]:
    """The WHERE clause naming the points: `=` for one (the plain primary-key search is the fastest plan),
    a list otherwise (one parameter however many points)."""
    if len(point_ids) == 1:
        return "point_id = ?", point_ids[0]
    return dialect.any_of("point_id"), dialect.id_list(point_ids)


@dataclass(slots=True)
class Series:
    """Samples of one point as two parallel lists (cheap to build and to send as columns)."""

    timestamps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    truncated: bool = False
    next_start: int | None = None


@dataclass(slots=True)
class AggregateSeries:
    """Buckets of one point: `bucket_starts[i]` is the epoch-ms start of bucket i; one value list per aggregate."""

    bucket_starts: list[int] = field(default_factory=list)
    values: dict[Aggregate, list[float]] = field(default_factory=dict)


def check_range(start_ms: int, end_ms: int) -> None:
    if end_ms <= start_ms:
        raise ValidationError("must be later than the start", field="end", value=end_ms)


class HistoryReader:
    def __init__(self, db: Database, partitions: PartitionSet) -> None:
        self._db = db
        self._dialect = db.dialect
        self._partitions = partitions

    async def count_in(self, conn: Connection, point_ids: Sequence[int]) -> int:
        """How many samples these points hold in every year, read on the caller's connection (inside the
        transaction that is about to delete them, so the audit trail says what went)."""
        if not point_ids:
            return 0
        where, param = _ids(self._dialect, point_ids)
        total = 0
        for year in self._partitions.years:
            row = await conn.fetch_one(f"SELECT count(*) FROM {partition_table(year)} WHERE {where}", (param,))
            total += int(row[0]) if row else 0
        return total

    async def read_range(
        self,
        point_ids: Sequence[int],
        start_ms: int,
        end_ms: int,
        *,
        limit: int | None = None,
        trend_log_id: int | None = None,
    ) -> dict[int, Series]:
        """Raw samples of each point in [start, end), at most `limit` per point (only those recorded by
        `trend_log_id` when given)."""
        check_range(start_ms, end_ms)
        if limit is not None and limit < 1:
            raise ValidationError("must be at least 1", field="limit", value=limit)
        result = {pid: Series() for pid in point_ids}
        if not point_ids:
            return result
        where, ids = _ids(self._dialect, point_ids)
        by_log, log_params = _trend_log_filter(trend_log_id)
        remaining: dict[int, int | None] | None = {pid: limit for pid in point_ids} if limit is not None else None
        await self._partitions.refresh_for(self._db, start_ms, end_ms)  # another process may have made a year
        for year in self._partitions.existing_between(start_ms, end_ms):
            table = partition_table(year)
            if remaining is None and len(result) == 1:
                # one point, no limit (a chart's range): two columns, straight into the series' two lists
                rows = await self._db.fetch_all(
                    f"SELECT ts, value FROM {table} WHERE {where} AND ts >= ? AND ts < ?{by_log} ORDER BY ts",
                    (ids, start_ms, end_ms, *log_params),
                )
                series = next(iter(result.values()))
                # two comprehensions: ~10x faster than zip(*rows) on 100k rows
                series.timestamps.extend([row[0] for row in rows])
                series.values.extend([row[1] for row in rows])
                continue
            if remaining is None:
                rows = await self._db.fetch_all(
                    f"SELECT point_id, ts, value FROM {table} WHERE {where} AND ts >= ? AND ts < ?{by_log} "
                    "ORDER BY point_id, ts",
                    (ids, start_ms, end_ms, *log_params),
                )
            else:
                wanted = [pid for pid, left in remaining.items() if left is not None and left >= 0]
                if not wanted:
                    break
                cap = max(remaining[pid] or 0 for pid in wanted) + 1
                if len(wanted) == 1:
                    rows = await self._db.fetch_all(
                        f"SELECT point_id, ts, value FROM {table} WHERE point_id = ? AND ts >= ? AND ts < ?{by_log} "
                        "ORDER BY ts LIMIT ?",
                        (wanted[0], start_ms, end_ms, *log_params, cap),
                    )
                else:
                    rows = await self._db.fetch_all(
                        "SELECT point_id, ts, value FROM (SELECT point_id, ts, value, row_number() OVER "
                        f"(PARTITION BY point_id ORDER BY ts) AS n FROM {table} WHERE {_ids(self._dialect, wanted)[0]} "
                        f"AND ts >= ? AND ts < ?{by_log}) AS numbered WHERE n <= ? ORDER BY point_id, ts",
                        (_ids(self._dialect, wanted)[1], start_ms, end_ms, *log_params, cap),
                    )
            self._append(result, rows, remaining)
        return result

    @staticmethod
    def _append(result: dict[int, Series], rows: list, remaining: dict[int, int | None] | None) -> None:
        if not rows:
            return
        for pid, ts, value in rows:
            series = result[pid]
            if remaining is not None:
                left = remaining[pid]
                if left is None or left < 0:
                    continue
                if left == 0:
                    series.truncated = True
                    series.next_start = ts
                    remaining[pid] = -1
                    continue
                remaining[pid] = left - 1
            series.timestamps.append(ts)
            series.values.append(value)

    async def count(self, point_ids: Sequence[int], start_ms: int, end_ms: int) -> dict[int, int]:
        check_range(start_ms, end_ms)
        counts = dict.fromkeys(point_ids, 0)
        where, ids = _ids(self._dialect, point_ids)
        await self._partitions.refresh_for(self._db, start_ms, end_ms)
        for year in self._partitions.existing_between(start_ms, end_ms):
            rows = await self._db.fetch_all(
                f"SELECT point_id, count(*) FROM {partition_table(year)} WHERE {where} AND ts >= ? AND ts < ? "
                "GROUP BY point_id",
                (ids, start_ms, end_ms),
            )
            for pid, n in rows:
                counts[pid] += n
        return counts

    async def aggregate(
        self,
        point_ids: Sequence[int],
        start_ms: int,
        end_ms: int,
        interval_seconds: int,
        aggregates: Sequence[Aggregate],
        *,
        trend_log_id: int | None = None,
    ) -> dict[int, AggregateSeries]:
        """Buckets of `interval_seconds` aligned to the epoch, computed in SQL per partition; a bucket that spans
        a year boundary is merged from its two partial results. `trend_log_id` keeps only its samples."""
        check_range(start_ms, end_ms)
        if isinstance(interval_seconds, bool) or not isinstance(interval_seconds, int) or interval_seconds < 1:
            raise ValidationError("must be a whole number of seconds >= 1", field="interval_seconds")
        if not aggregates:
            raise ValidationError("name at least one aggregate", field="aggregate")
        width = interval_seconds * 1000
        wanted = set(aggregates)
        if wanted & _TIME_AWARE:  # computed bucket by bucket in time order: the general path
            general = await self.aggregate_buckets(
                point_ids,
                start_ms,
                end_ms,
                fixed_boundaries(start_ms, end_ms, width),
                aggregates,
                trend_log_id=trend_log_id,
            )
            return {pid: series.without_empty(aggregates) for pid, series in general.items()}
        need_stats = bool(wanted - {Aggregate.FIRST, Aggregate.LAST})
        # bucket -> [count, sum, min, max, first_ts, first, last_ts, last], per point; a bucket met in two
        # pieces (raw rows and rollups, or a bucket spanning New Year) is merged.
        partials: dict[int, dict[int, list[Any]]] = {pid: {} for pid in point_ids}
        clause, ids = _ids(self._dialect, point_ids)
        by_log, log_params = _trend_log_filter(trend_log_id)
        await self._partitions.refresh_for(self._db, start_ms, end_ms)
        coarsest = next((lv for lv in reversed(rollups.LEVELS) if width % (lv * 1000) == 0), None)
        for table, level, lo, hi in await self._pieces(start_ms, end_ms, coarsest, trend_log_id):
            if level is None:
                where = f"WHERE {clause} AND ts >= ? AND ts < ?{by_log}"
                params: tuple[Any, ...] = (width, ids, lo, hi, *log_params)
                stats = (
                    "SELECT point_id, ts / ? AS b, count(*), sum(value), min(value), max(value) "
                    f"FROM {table} {where} GROUP BY point_id, b"
                )
                edge_columns = {Aggregate.FIRST: ("ts", "value"), Aggregate.LAST: ("ts", "value")}
                key = "ts"
            else:
                where = f"WHERE {clause} AND level = {int(level)} AND bucket >= ? AND bucket < ?"
                params = (width, ids, lo, hi)
                if level * 1000 == width:  # one rollup row is one bucket: nothing to group (no sort)
                    stats = f"SELECT point_id, bucket / ? AS b, n, total, low, high FROM {table} {where}"
                else:
                    stats = (
                        "SELECT point_id, bucket / ? AS b, CAST(sum(n) AS bigint), sum(total), min(low), max(high) "
                        f"FROM {table} {where} GROUP BY point_id, b"
                    )
                edge_columns = {Aggregate.FIRST: ("first_ts", "first"), Aggregate.LAST: ("last_ts", "last")}
                key = "bucket"
            if need_stats:
                rows = await self._db.fetch_all(stats, params)
                if len(partials) == 1:
                    _merge_stats(next(iter(partials.values())), rows)
                else:
                    by_point: dict[int, list[Any]] = {pid: [] for pid in partials}
                    for row in rows:
                        by_point[row[0]].append(row)
                    for pid, own in by_point.items():
                        _merge_stats(partials[pid], own)
            for agg, slot in ((Aggregate.FIRST, 4), (Aggregate.LAST, 6)):
                if agg not in wanted:
                    continue
                ts_column, value_column = edge_columns[agg]
                rows = await self._db.fetch_all(
                    self._dialect.bucket_edges(
                        table, where, last=agg is Aggregate.LAST, ts=ts_column, value=value_column, key=key
                    ),
                    params,
                )
                for pid, bucket, value, ts in rows:
                    part = partials[pid].setdefault(bucket, [0, 0.0, None, None, None, None, None, None])
                    current = part[slot]
                    if current is None or (ts < current if agg is Aggregate.FIRST else ts > current):
                        part[slot], part[slot + 1] = ts, value
        return {pid: _finish(partials[pid], width, aggregates) for pid in point_ids}

    async def aggregate_calendar(
        self,
        point_ids: Sequence[int],
        start_ms: int,
        end_ms: int,
        unit: CalendarUnit,
        time_zone: str,
        aggregates: Sequence[Aggregate],
        *,
        max_gap_ms: int | None = None,
        week_start: int = 0,
        trend_log_id: int | None = None,
    ) -> dict[int, BucketSeries]:
        """Calendar buckets (hours, days, weeks, months, years) as the clocks of `time_zone` show them, every
        bucket that [start_ms, end_ms) touches (empty ones with None values), each with its start and end."""
        check_range(start_ms, end_ms)
        bounds = boundaries(start_ms, end_ms, unit, zone(time_zone), week_start=week_start)
        return await self.aggregate_buckets(
            point_ids, start_ms, end_ms, bounds, aggregates, max_gap_ms=max_gap_ms, trend_log_id=trend_log_id
        )

    async def aggregate_buckets(
        self,
        point_ids: Sequence[int],
        start_ms: int,
        end_ms: int,
        bounds: Sequence[int],
        aggregates: Sequence[Aggregate],
        *,
        max_gap_ms: int | None = None,
        trend_log_id: int | None = None,
    ) -> dict[int, BucketSeries]:
        """Buckets [bounds[i], bounds[i+1]) clipped to [start_ms, end_ms), every aggregate including the
        time-aware ones (TWA, DELTA, RANGE). Rollups of the coarsest level on which every boundary falls answer
        the aligned middle, raw rows the edges; for TWA with `max_gap_ms`, raw rows alone when a rollup holds a
        longer step (its time-weighted sum could not be capped)."""
        check_range(start_ms, end_ms)
        if not aggregates:
            raise ValidationError("name at least one aggregate", field="aggregate")
        if max_gap_ms is not None and max_gap_ms < 1000:
            raise ValidationError(
                "must be a whole number of seconds >= 1", field="max_gap_seconds", value=max_gap_ms // 1000
            )
        await self._partitions.refresh_for(self._db, start_ms, end_ms)
        units = await self._units(point_ids, start_ms, end_ms, bounds, trend_log_id)
        if max_gap_ms is not None and any(u[10] > max_gap_ms for per in units.values() for u in per):
            units = await self._units(point_ids, start_ms, end_ms, bounds, trend_log_id, rolled=False)
        before = await self.latest_at(point_ids, start_ms - 1) if start_ms > 0 else {}
        return {
            pid: _bucket_series(units[pid], bounds, start_ms, end_ms, aggregates, max_gap_ms, before.get(pid))
            for pid in point_ids
        }

    async def _units(
        self,
        point_ids: Sequence[int],
        start_ms: int,
        end_ms: int,
        bounds: Sequence[int],
        trend_log_id: int | None,
        *,
        rolled: bool = True,
    ) -> dict[int, list[tuple[Any, ...]]]:
        """Per point, rollup buckets and raw samples (as buckets of one) covering [start_ms, end_ms), in time
        order, shaped as `rollups.Unit`. Each answer bucket is read from the coarsest level that fits inside it
        (the whole days of a month, its ragged hours, …, raw rows last): one statement per level and year."""
        complete = await rollups.complete_years(self._db) if rolled and trend_log_id is None else set()
        found: dict[int, list[tuple[Any, ...]]] = {pid: [] for pid in point_ids}
        by_log, log_params = _trend_log_filter(trend_log_id)
        for year in self._partitions.existing_between(start_ms, end_ms):
            year_start, year_end = year_bounds(year)
            lo, hi = max(start_ms, year_start), min(end_ms, year_end)
            spans: dict[int | None, list[tuple[int, int]]] = {}
            cuts = [lo, *(b for b in bounds if lo < b < hi), hi]
            for a, b in itertools.pairwise(cuts):
                for level, x, y in _decompose(a, b, rollups.LEVELS if year in complete else ()):
                    spans.setdefault(level, []).append((x, y))
            for level, ranges in spans.items():
                runs = [(pid, x, y) for pid in point_ids for x, y in _merged(ranges)]
                param = (self._dialect.pair_list(runs),)
                if level is None:
                    rows = await self._db.fetch_all(
                        f"SELECT t.point_id, t.ts, t.value FROM {self._dialect.range_rows} JOIN "
                        f"{partition_table(year)} AS t ON t.point_id = r.pid AND t.ts >= r.lo AND t.ts < r.hi"
                        + by_log.replace("trend_log_id", "t.trend_log_id"),
                        (*param, *log_params),
                    )
                    for pid, ts, v in rows:
                        found[pid].append((ts, 1, v, v, v, ts, v, ts, v, 0.0, 0, 0.0))
                    continue
                rows = await self._db.fetch_all(
                    "SELECT t.point_id, t.bucket, t.n, t.total, t.low, t.high, t.first_ts, t.first, t.last_ts, "
                    f"t.last, t.tw_sum, t.max_gap, t.increase FROM {self._dialect.range_rows} JOIN "
                    f"{rollups.rollup_table(year)} AS t ON t.point_id = r.pid AND t.level = {int(level)} "
                    "AND t.bucket >= r.lo AND t.bucket < r.hi",
                    param,
                )
                for row in rows:
                    found[row[0]].append(tuple(row[1:]))
        for per in found.values():
            per.sort()
        return found

    async def _pieces(
        self, start_ms: int, end_ms: int, level: int | None, trend_log_id: int | None
    ) -> list[tuple[str, int | None, int, int]]:
        """Where to read [start_ms, end_ms) from, as (table, rollup level or None for raw rows, lo, hi): per
        year, the coarsest rollup level whose buckets each lie inside one answer bucket (its width divides
        `width`) for the aligned middle, raw rows for the ragged edges; raw rows alone for a year whose rollups
        are incomplete and for a trend log's samples (rollups hold every sample of a point)."""
        years = self._partitions.existing_between(start_ms, end_ms)
        complete = await rollups.complete_years(self._db) if level is not None and trend_log_id is None else set()
        pieces: list[tuple[str, int | None, int, int]] = []
        for year in years:
            raw = partition_table(year)
            year_start, year_end = year_bounds(year)
            lo, hi = max(start_ms, year_start), min(end_ms, year_end)
            if level is None or year not in complete:
                pieces.append((raw, None, lo, hi))
                continue
            core_lo, core_hi = rollups.ceil_to(lo, level), rollups.floor_to(hi, level)
            if core_hi <= core_lo:
                pieces.append((raw, None, lo, hi))
                continue
            pieces.append((rollups.rollup_table(year), level, core_lo, core_hi))
            if lo < core_lo:
                pieces.append((raw, None, lo, core_lo))
            if core_hi < hi:
                pieces.append((raw, None, core_hi, hi))
        return pieces

    async def latest_at(self, point_ids: Sequence[int], at_ms: int) -> dict[int, tuple[int, float]]:
        """The last sample at or before `at_ms` of each point that has one."""
        found: dict[int, tuple[int, float]] = {}
        todo = list(point_ids)
        await self._partitions.refresh_for(self._db, 0, at_ms + 1)
        for year in reversed(self._partitions.existing_between(0, at_ms + 1)):
            if not todo:
                break
            where, ids = _ids(self._dialect, todo)
            rows = await self._db.fetch_all(
                self._dialect.latest_per_point(partition_table(year), f"{where} AND ts <= ?"), (ids, at_ms)
            )
            for pid, ts, value in rows:
                found[pid] = (ts, value)
            todo = [pid for pid in todo if pid not in found]
        return found


def _decompose(lo: int, hi: int, levels: Sequence[int]) -> list[tuple[int | None, int, int]]:
    """[lo, hi) as (level, a, b) spans: the coarsest level's whole buckets in the middle, finer levels for the
    edges, raw rows (level None) for what no level fits."""
    if lo >= hi:
        return []
    if not levels:
        return [(None, lo, hi)]
    level, finer = levels[-1], levels[:-1]
    a, b = rollups.ceil_to(lo, level), rollups.floor_to(hi, level)
    if a >= b:
        return _decompose(lo, hi, finer)
    return [*_decompose(lo, a, finer), (level, a, b), *_decompose(b, hi, finer)]


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ranges with touching neighbours joined."""
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and out[-1][1] == a:
            out[-1][1] = b
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


_TIME_AWARE = {Aggregate.TWA, Aggregate.DELTA, Aggregate.RANGE}


@dataclass(slots=True)
class BucketSeries:
    """Buckets of one point with their own start and end (calendar buckets differ in length); a value is None
    where the bucket holds no sample (TWA: where no value was in force)."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    values: dict[Aggregate, list[float | None]] = field(default_factory=dict)
    counts: list[int] = field(default_factory=list)
    initial: tuple[int, float] | None = None
    """The last sample before the range: the value in force at its start (time, value)."""

    def without_empty(self, aggregates: Sequence[Aggregate]) -> AggregateSeries:
        keep = [i for i, n in enumerate(self.counts) if n]
        return AggregateSeries(
            bucket_starts=[self.starts[i] for i in keep],
            values={agg: [self.values[agg][i] for i in keep] for agg in aggregates},  # type: ignore[misc]
        )


def _fold(units: Sequence[tuple[Any, ...]], cap: int | None) -> tuple[tuple[Any, ...], float, int]:
    """One bucket from its units in time order: the folded unit, its time-weighted sum with every step between
    samples capped at `cap`, and the time those steps cover (units' own steps are within `cap`: checked)."""
    folded = rollups.fold_units(units[0][0], units)
    tw_sum = 0.0
    covered = 0
    before: tuple[Any, ...] | None = None
    for unit in units:
        tw_sum += unit[9]
        covered += unit[7] - unit[5]
        if before is not None:
            step = unit[5] - before[7]
            held = step if cap is None else min(step, cap)
            tw_sum += before[8] * held
            covered += held
        before = unit
    return folded, tw_sum, covered


def _bucket_series(
    units: list[tuple[Any, ...]],
    bounds: Sequence[int],
    start_ms: int,
    end_ms: int,
    aggregates: Sequence[Aggregate],
    cap: int | None,
    initial: tuple[int, float] | None,
) -> BucketSeries:
    series = BucketSeries(initial=initial)
    series.values = {agg: [] for agg in aggregates}
    previous = initial  # the last sample before the current bucket: (ts, value)
    position = 0
    for lo, hi in itertools.pairwise(bounds):
        if hi <= start_ms or lo >= end_ms:
            continue
        c0, c1 = max(lo, start_ms), min(hi, end_ms)
        mine = []
        while position < len(units) and units[position][0] < hi:
            mine.append(units[position])
            position += 1
        series.starts.append(lo)
        series.ends.append(hi)
        series.counts.append(sum(u[1] for u in mine))
        held_integral = 0.0
        held = 0
        if previous is not None:  # the value in force at the bucket's start, until its first sample or the cap
            until = mine[0][5] if mine else c1
            if cap is not None:
                until = min(until, previous[0] + cap)
            held = max(0, until - c0)
            held_integral = previous[1] * held
        if not mine:
            twa = held_integral / held if held else None
            for agg in aggregates:
                series.values[agg].append(twa if agg is Aggregate.TWA else None)
            continue
        folded, tw_sum, covered = _fold(mine, cap)
        _, n, total, low, high, _first_ts, first, last_ts, last, _, _, increase = folded
        tail = c1 - last_ts if cap is None else min(c1 - last_ts, cap)
        answer = {
            Aggregate.COUNT: float(n),
            Aggregate.SUM: total,
            Aggregate.AVG: total / n,
            Aggregate.MIN: low,
            Aggregate.MAX: high,
            Aggregate.FIRST: first,
            Aggregate.LAST: last,
            Aggregate.RANGE: high - low,
            Aggregate.DELTA: increase,
            Aggregate.TWA: (held_integral + tw_sum + last * tail) / (held + covered + tail),
        }
        for agg in aggregates:
            series.values[agg].append(answer[agg])
        previous = (last_ts, last)
    return series


_COLUMN = {
    Aggregate.SUM: 1,
    Aggregate.MIN: 2,
    Aggregate.MAX: 3,
    Aggregate.FIRST: 5,
    Aggregate.LAST: 7,
}


def _trend_log_filter(trend_log_id: int | None) -> tuple[str, tuple[int, ...]]:
    """An extra WHERE clause (and its parameter) that keeps the samples one trend log recorded."""
    if trend_log_id is None:
        return "", ()
    return " AND trend_log_id = ?", (trend_log_id,)


def _merge_stats(buckets: dict[int, list[Any]], rows: Sequence[Sequence[Any]]) -> None:
    """Adds one partition's `point_id, bucket, count, sum, min, max` rows of one point to its buckets. Built in
    one comprehension (a year of 15-minute buckets is 35,000 rows); only a bucket that spans New Year is met
    twice and merged."""
    fresh = {row[1]: [row[2], row[3], row[4], row[5], None, None, None, None] for row in rows}
    for bucket in fresh.keys() & buckets.keys():
        part, more = buckets[bucket], fresh[bucket]
        part[0] += more[0]
        part[1] += more[1]
        part[2] = min(part[2], more[2])
        part[3] = max(part[3], more[3])
        del fresh[bucket]
    buckets.update(fresh)


def _finish(buckets: dict[int, list[Any]], width: int, aggregates: Sequence[Aggregate]) -> AggregateSeries:
    order = sorted(buckets)
    parts = [buckets[b] for b in order]
    values: dict[Aggregate, list[float]] = {}
    for agg in aggregates:
        if agg is Aggregate.AVG:
            values[agg] = [p[1] / p[0] for p in parts]
        elif agg is Aggregate.COUNT:
            values[agg] = [float(p[0]) for p in parts]
        else:
            column = _COLUMN[agg]
            values[agg] = [p[column] for p in parts]
    return AggregateSeries(bucket_starts=[b * width for b in order], values=values)
