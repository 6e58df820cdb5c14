"""Rollups: per point and 5-minute, 15-minute, 1-hour and 1-day bucket, what aggregate reads need, so that a year
into 15-minute buckets reads 35,040 rollup rows instead of 525,600 samples (and ten years into days reads 3,650).

Each bucket holds the count, sum, min, max, the first and last value with their times, the time-weighted sum
(value x time to the next sample, over consecutive samples inside the bucket), the longest such step, and the
counter increase (consecutive differences, a drop counted as a reset from 0). Buckets are epoch-aligned in UTC,
so every bucket lies inside one year: `rollups_YYYY` sits beside `timeseries_data_YYYY` and is created, dropped and
trimmed with it.

Kept up to date by the write path, in the raw rows' transaction. Samples that were all new (`append`: an import,
a collector) are folded here and joined to the stored buckets they extend, with one read of those buckets and
one write. Anything else (`update`: repeated, corrected, late samples between stored ones) recounts the 5-minute
buckets it touched from the raw rows, then the hours from their 5-minute buckets, then the days from their hours.
A handful of statements per batch and year, whatever the batch's size.

A year's rollups are used by reads only when `rollup_years.complete` says they cover all its history: a year
whose rows were written before rollups existed (or copied in by copy-db) is incomplete until `rebuild` ran.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from t3000gql.storage.connection import Connection
from t3000gql.storage.database import Database
from t3000gql.storage.partitions import partition_table, year_bounds, year_of_ms

LEVELS = (300, 900, 3600, 86400)
"""Bucket widths in seconds, finest first; each divides the next, and a day divides a (UTC) year. The 15-minute
level is beyond issue 12's three: charts of a year ask for 15-minute buckets, and read from it they are one row a
bucket (no grouping) instead of three (measured: agg-year-15min 320 ms -> about 200 ms beside a loaded machine's
raw scan of 440-970 ms; docs/performance.md)."""

_COLUMNS = tuple(
    "point_id level bucket n total low high first_ts first last_ts last tw_sum max_gap increase".split()
)
_UPSERT = (
    "INSERT INTO {table} (" + ", ".join(_COLUMNS) + ") {source} "
    "ON CONFLICT (point_id, level, bucket) DO UPDATE SET n = excluded.n, total = excluded.total, "
    "low = excluded.low, high = excluded.high, first_ts = excluded.first_ts, first = excluded.first, "
    "last_ts = excluded.last_ts, last = excluded.last, tw_sum = excluded.tw_sum, max_gap = excluded.max_gap, "
    "increase = excluded.increase"
)
_RAW_ROWS = (
    "SELECT t.point_id, t.ts, t.value FROM {ranges} JOIN {table} AS t ON t.point_id = r.pid AND t.ts >= r.lo "
    "AND t.ts < r.hi ORDER BY t.point_id, t.ts"
)
_CHILD_ROWS = (
    "SELECT t.point_id, t.bucket, t.n, t.total, t.low, t.high, t.first_ts, t.first, t.last_ts, t.last, t.tw_sum, "
    "t.max_gap, t.increase FROM {ranges} JOIN {table} AS t ON t.point_id = r.pid AND t.level = {child} "
    "AND t.bucket >= r.lo AND t.bucket < r.hi ORDER BY t.point_id, t.bucket"
)
"""Rows are folded into buckets here, in Python: measured on SQLite, the same fold in SQL (window functions over
the batch's rows: lag, lead, first_value) took 20-50 us per sample, a read back and a fold here a few us."""

Unit = tuple[Any, ...]
"""A rolled-up bucket without its point and level: (bucket, n, total, low, high, first_ts, first, last_ts, last,
tw_sum, max_gap, increase)."""


def fold_rows(rows: Iterable[Sequence[Any]], level: int) -> list[tuple[Any, ...]]:
    """Buckets of `level` from samples `(point_id, ts, value)` sorted by point and time, as rows
    `(point_id, level, *Unit)`. One pass, no call per sample or per bucket: this runs on every write."""
    width = level * 1000
    out: list[tuple[Any, ...]] = []
    put = out.append
    pid: Any = None
    bucket = -1
    n = gap = first_ts = last_ts = 0
    total = low = high = first = last = tw_sum = increase = 0.0
    for point, ts, value in rows:
        b = ts // width
        if b != bucket or point != pid:
            if pid is not None:
                put((pid, level, bucket * width, n, total, low, high, first_ts, first, last_ts, last, tw_sum, gap,
                     increase))  # fmt: skip
            pid, bucket = point, b
            n, total, low, high, first_ts, first, last_ts, last = 1, value, value, value, ts, value, ts, value
            tw_sum = increase = 0.0
            gap = 0
            continue
        step = ts - last_ts
        tw_sum += last * step
        if step > gap:
            gap = step
        increase += value - last if value >= last else value  # a drop: the counter restarted at 0
        n += 1
        total += value
        if value < low:
            low = value
        elif value > high:
            high = value
        last_ts, last = ts, value
    if pid is not None:
        put(
            (
                pid,
                level,
                bucket * width,
                n,
                total,
                low,
                high,
                first_ts,
                first,
                last_ts,
                last,
                tw_sum,
                gap,
                increase,
            )
        )
    return out


def fold_unit_rows(units: Iterable[Sequence[Any]], level: int) -> list[tuple[Any, ...]]:
    """Buckets of `level` from finer buckets `(point_id, *Unit)` sorted by point and time, as rows
    `(point_id, level, *Unit)`, in one pass (see `fold_units` for one bucket)."""
    width = level * 1000
    out: list[tuple[Any, ...]] = []
    put = out.append
    pid: Any = None
    bucket = -1
    n = gap = first_ts = last_ts = 0
    total = low = high = first = last = tw_sum = increase = 0.0
    for point, start, un, utotal, ulow, uhigh, ufirst_ts, ufirst, ulast_ts, ulast, utw, ugap, uinc in units:
        b = start // width
        if b != bucket or point != pid:
            if pid is not None:
                put((pid, level, bucket * width, n, total, low, high, first_ts, first, last_ts, last, tw_sum, gap,
                     increase))  # fmt: skip
            pid, bucket = point, b
            n, total, low, high, first_ts, first = un, utotal, ulow, uhigh, ufirst_ts, ufirst
            last_ts, last, tw_sum, gap, increase = ulast_ts, ulast, utw, ugap, uinc
            continue
        step = ufirst_ts - last_ts
        tw_sum += last * step + utw
        gap = max(gap, step, ugap)
        increase += (ufirst - last if ufirst >= last else ufirst) + uinc
        n += un
        total += utotal
        if ulow < low:
            low = ulow
        if uhigh > high:
            high = uhigh
        last_ts, last = ulast_ts, ulast
    if pid is not None:
        put(
            (
                pid,
                level,
                bucket * width,
                n,
                total,
                low,
                high,
                first_ts,
                first,
                last_ts,
                last,
                tw_sum,
                gap,
                increase,
            )
        )
    return out


def fold_units(bucket: int, units: Sequence[Sequence[Any]]) -> Unit:
    """One bucket from its finer buckets (`Unit`s) in time order: the step from one's last sample to the next
    one's first joins the sums as a step between samples does."""
    n = 0
    total = tw_sum = increase = 0.0
    max_gap = 0
    low, high = units[0][3], units[0][4]
    before: Sequence[Any] | None = None
    for unit in units:
        n += unit[1]
        total += unit[2]
        low = min(low, unit[3])
        high = max(high, unit[4])
        tw_sum += unit[9]
        max_gap = max(max_gap, unit[10])
        increase += unit[11]
        if before is not None:
            step = unit[5] - before[7]
            tw_sum += before[8] * step
            max_gap = max(max_gap, step)
            increase += unit[6] - before[8] if unit[6] >= before[8] else unit[6]
        before = unit
    first, last = units[0], units[-1]
    return (bucket, int(n), total, low, high, first[5], first[6], last[7], last[8], tw_sum, max_gap, increase)


def rollup_table(year: int) -> str:
    partition_table(year)  # validates the year
    return f"rollups_{year:04d}"


def floor_to(ts_ms: int, level: int) -> int:
    width = level * 1000
    return ts_ms // width * width


def ceil_to(ts_ms: int, level: int) -> int:
    width = level * 1000
    return -(-ts_ms // width) * width


def _runs(pairs: Iterable[tuple[int, int]], width: int) -> list[tuple[int, int, int]]:
    """(point, bucket index) pairs as (point, lo_ms, hi_ms) runs of consecutive buckets."""
    runs: list[list[int]] = []
    for pid, bucket in sorted(set(pairs)):
        if runs and runs[-1][0] == pid and runs[-1][2] == bucket:
            runs[-1][2] = bucket + 1
        else:
            runs.append([pid, bucket, bucket + 1])
    return [(pid, lo * width, hi * width) for pid, lo, hi in runs]


@dataclass(slots=True)
class RollupYears:
    """Which years' rollup tables exist in this process's view (made here or seen), to skip the check."""

    known: set[int]

    def __init__(self) -> None:
        self.known = set()


async def ensure_year(conn: Connection, year: int, years: RollupYears, *, raw_is_new: bool) -> str:
    """The year's rollup table, created (inside the caller's transaction) if missing. A year met for the first
    time is complete when its raw table is new (or empty); otherwise rows from before rollups exist: incomplete."""
    table = rollup_table(year)
    if year in years.known:
        return table
    row = await conn.fetch_one("SELECT complete FROM rollup_years WHERE year = ?", (year,))
    if row is None:
        empty = raw_is_new or (await conn.fetch_one(f"SELECT 1 FROM {partition_table(year)} LIMIT 1")) is None
        await conn.execute(
            "INSERT INTO rollup_years (year, complete) VALUES (?, ?) ON CONFLICT (year) DO NOTHING",
            (year, 1 if empty else 0),
        )
    for statement in conn.dialect.create_rollup_partition(table, *year_bounds(year)):
        await conn.execute(statement)
    years.known.add(year)
    return table


async def update(conn: Connection, year: int, point_ids: Sequence[int], stamps: Sequence[int]) -> None:
    """Recomputes every bucket of the year that the samples (point_ids[i], stamps[i]) fall in, at each level."""
    width = LEVELS[0] * 1000
    runs = _runs(zip(point_ids, [ts // width for ts in stamps], strict=True), width)
    await _roll_levels(conn, year, runs)


async def append(
    conn: Connection, year: int, point_ids: Sequence[int], stamps: Sequence[int], values: Sequence[float]
) -> None:
    """`update` for samples that were all new (the write path inserted them without meeting a stored row): their
    buckets are folded here from the samples themselves and joined to the stored buckets they extend, without
    reading raw rows back. Exact when, in every bucket, the new samples all come after the stored ones or all
    before them (a collector's, an import's); otherwise this is `update`."""
    rows = sorted(zip(point_ids, stamps, values, strict=True))
    levels: list[list[tuple[Any, ...]]] = [[(unit[0], *unit[2:]) for unit in fold_rows(rows, LEVELS[0])]]
    for level in LEVELS[1:]:
        levels.append([(unit[0], *unit[2:]) for unit in fold_unit_rows(levels[-1], level)])
    table = rollup_table(year)
    ranges = conn.dialect.range_rows
    params = [
        conn.dialect.pair_list(_runs(((unit[0], unit[1] // (level * 1000)) for unit in new), level * 1000))
        for level, new in zip(LEVELS, levels, strict=True)
    ]
    query = " UNION ALL ".join(
        f"SELECT {level} AS level, t.* FROM ({_CHILD_ROWS.format(ranges=ranges, table=table, child=level)}) AS t"
        for level in LEVELS
    )
    stored = {(row[0], row[1], row[2]): row[2:] for row in await conn.fetch_all(query, params)}
    fresh: list[tuple[Any, ...]] = []
    merged: list[tuple[Any, ...]] = []
    for level, new in zip(LEVELS, levels, strict=True):
        for pid, *unit in new:
            old = stored.get((level, pid, unit[0]))
            if old is None:
                fresh.append((pid, level, *unit))
            elif unit[5] > old[7]:  # the new samples follow the stored ones
                merged.append((pid, level, *fold_units(unit[0], [old, unit])))
            elif unit[7] < old[5]:  # or precede them
                merged.append((pid, level, *fold_units(unit[0], [unit, old])))
            else:  # interleaved with stored samples: recount from the raw rows
                await update(conn, year, point_ids, stamps)
                return
    # buckets new to the table are appended as they are (COPY on PostgreSQL), the extended ones upserted
    if fresh:
        await conn.copy_rows(table, _COLUMNS, fresh)
    await _upsert(conn, table, merged)


async def _roll_levels(conn: Connection, year: int, runs: list[tuple[int, int, int]]) -> None:
    """The 5-minute buckets of `runs` (5-minute aligned) from the raw rows, then the hours and days they are in."""
    if not runs:
        return
    raw, table = partition_table(year), rollup_table(year)
    ranges = conn.dialect.range_rows
    rows = await conn.fetch_all(_RAW_ROWS.format(ranges=ranges, table=raw), (conn.dialect.pair_list(runs),))
    await _upsert(conn, table, fold_rows(rows, LEVELS[0]))
    for child, level in pairwise(LEVELS):
        width = level * 1000
        # coarser buckets that the runs touch, each read whole (its other children may lie outside the runs)
        runs = _runs(((pid, b) for pid, lo, hi in runs for b in range(lo // width, -(-hi // width))), width)
        rows = await conn.fetch_all(
            _CHILD_ROWS.format(ranges=ranges, table=table, child=child), (conn.dialect.pair_list(runs),)
        )
        await _upsert(conn, table, fold_unit_rows(rows, level))


async def _upsert(conn: Connection, table: str, rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    staging = conn.dialect.rollup_staging
    if staging is None:  # SQLite: one upsert per row on its own thread is as fast as it gets
        marks = ", ".join("?" for _ in _COLUMNS)
        await conn.executemany(_UPSERT.format(table=table, source=f"VALUES ({marks})"), rows)
        return
    # PostgreSQL: COPY into a temporary table, then one upsert (executemany is a round trip per row)
    await conn.execute(staging)
    await conn.execute("DELETE FROM rollup_incoming")
    await conn.copy_rows("rollup_incoming", _COLUMNS, rows)
    await conn.execute(
        _UPSERT.format(table=table, source="SELECT " + ", ".join(_COLUMNS) + " FROM rollup_incoming WHERE true")
    )


async def rebuild(
    conn: Connection,
    year: int,
    point_ids: Sequence[int],
    start_ms: int,
    end_ms: int,
    years: RollupYears,
) -> None:
    """Deletes and recomputes the rollups of these points in [start_ms, end_ms) of one year (widened to whole
    days), from the raw rows: after retention trimmed a year, or by `t3000gql rebuild-rollups`."""
    if not point_ids:
        return
    table = await ensure_year(conn, year, years, raw_is_new=False)
    ys, ye = year_bounds(year)
    lo = max(floor_to(max(start_ms, ys), LEVELS[-1]), ys)
    hi = min(ceil_to(min(end_ms, ye), LEVELS[-1]), ye)
    if hi <= lo:
        return
    where = conn.dialect.any_of("point_id")
    await conn.execute(
        f"DELETE FROM {table} WHERE {where} AND bucket >= ? AND bucket < ?",
        (conn.dialect.id_list(point_ids), lo, hi),
    )
    step = 32 * LEVELS[-1] * 1000  # a month or so at a time: a year of 1-minute samples is 525,600 rows
    for chunk in range(lo, hi, step):
        await _roll_levels(conn, year, [(pid, chunk, min(chunk + step, hi)) for pid in sorted(point_ids)])


async def mark_complete(conn: Connection, year: int) -> None:
    await conn.execute(
        "INSERT INTO rollup_years (year, complete) VALUES (?, 1) ON CONFLICT (year) DO UPDATE SET complete = 1",
        (year,),
    )


async def drop_year(conn: Connection, year: int, years: RollupYears | None = None) -> None:
    """Removes a year's rollups with its history partition (retention), in the caller's transaction."""
    for statement in conn.dialect.drop_rollup_partition(rollup_table(year)):
        await conn.execute(statement)
    await conn.execute("DELETE FROM rollup_years WHERE year = ?", (year,))
    if years is not None:
        years.known.discard(year)


async def trimmed(conn: Connection, year: int, cutoff_ms: int) -> None:
    """After retention deleted a year's raw rows before `cutoff_ms`: its rollups before the cut-off go and the
    buckets that straddle it are recomputed from what is left (in the caller's transaction)."""
    table = rollup_table(year)
    if (await conn.fetch_one("SELECT complete FROM rollup_years WHERE year = ?", (year,))) is None:
        return  # no rollups for this year
    day = floor_to(cutoff_ms, LEVELS[-1])
    await conn.execute(f"DELETE FROM {table} WHERE bucket < ?", (day,))
    rows = await conn.fetch_all(f"SELECT DISTINCT point_id FROM {table} WHERE bucket = ?", (day,))
    point_ids = [int(r[0]) for r in rows]
    if point_ids:
        await rebuild(conn, year, point_ids, day, day + LEVELS[-1] * 1000, RollupYears())


async def complete_years(db: Database) -> set[int]:
    """Years whose rollups cover all their history (what reads may use)."""
    rows = await db.fetch_all("SELECT year FROM rollup_years WHERE complete = 1")
    return {int(r[0]) for r in rows}


async def rebuild_all(
    db: Database,
    years: Iterable[int],
    point_ids: Sequence[int] | None,
    since_ms: int | None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """`t3000gql rebuild-rollups`: recomputes the rollups of the given years (of every point, or those named)
    from `since_ms` on, one point-year per transaction; a year done for every point is marked complete.
    Returns the number of point-years rebuilt; `progress(done, total)` is told after each."""
    chosen = sorted(y for y in years if since_ms is None or year_bounds(y)[1] > since_ms)
    if point_ids is None:
        rows = await db.fetch_all("SELECT id FROM monitoring_points ORDER BY id")
        pids = [int(r[0]) for r in rows]
    else:
        pids = list(point_ids)
    total = len(chosen) * len(pids)
    done = 0
    known = RollupYears()
    for year in chosen:
        ys, ye = year_bounds(year)
        start = ys if since_ms is None else max(ys, since_ms)
        for pid in pids:
            async with db.writer() as conn:
                await rebuild(conn, year, [pid], start, ye, known)
            done += 1
            if progress is not None:
                progress(done, total)
        if point_ids is None and start == ys:
            async with db.writer() as conn:
                await mark_complete(conn, year)
    return done


def year_span(start_ms: int, end_ms: int) -> range:
    return range(year_of_ms(start_ms), year_of_ms(end_ms - 1) + 1)
