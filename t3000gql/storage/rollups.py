"""Rollups: per point and 5-minute, 1-hour and 1-day bucket, what aggregate reads need, so that a year into
15-minute buckets reads 105,120 rollup rows instead of 525,600 samples (and ten years into days reads 3,650).

Each bucket holds the count, sum, min, max, the first and last value with their times, the time-weighted sum
(value x time to the next sample, over consecutive samples inside the bucket), the longest such step, and the
counter increase (consecutive differences, a drop counted as a reset from 0). Buckets are epoch-aligned in UTC,
so every bucket lies inside one year: `rollups_YYYY` sits beside `timeseries_data_YYYY` and is created, dropped and
trimmed with it.

Kept up to date by the write path, in the raw rows' transaction (`update`): the 5-minute buckets a batch touched
are recomputed from the raw rows (so late, repeated and corrected samples are simply part of the recount), then
the hours from their 5-minute buckets, then the days from their hours. One statement per level per year,
whatever the batch's size; the three levels share one SQL text whose source is either the raw rows or the level
below (a raw row is a bucket of one sample).

A year's rollups are used by reads only when `rollup_years.complete` says they cover all its history: a year
whose rows were written before rollups existed (or copied in by copy-db) is incomplete until `rebuild` ran.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from t3000gql.storage.connection import Connection
from t3000gql.storage.database import Database
from t3000gql.storage.partitions import partition_table, year_bounds, year_of_ms

LEVELS = (300, 3600, 86400)
"""Bucket widths in seconds, finest first; each divides the next, and a day divides a (UTC) year."""

_COLUMNS = (
    "point_id, level, bucket, n, total, low, high, first_ts, first, last_ts, last, tw_sum, max_gap, increase"
)

_RAW_UNITS = (
    "SELECT t.point_id, t.ts / {w} * {w} AS b, 1 AS n, t.value AS total, t.value AS low, t.value AS high, "
    "t.ts AS first_ts, t.value AS first, t.ts AS last_ts, t.value AS last, CAST(0 AS double precision) AS tw_sum, "
    "0 AS max_gap, CAST(0 AS double precision) AS increase "
    "FROM {ranges} JOIN {table} AS t ON t.point_id = r.pid AND t.ts >= r.lo AND t.ts < r.hi"
)
"""Raw rows as buckets of one sample each, in the ranges of the parameter (point, lo, hi)."""

_CHILD_UNITS = (
    "SELECT t.point_id, t.bucket / {w} * {w} AS b, t.n, t.total, t.low, t.high, t.first_ts, t.first, t.last_ts, "
    "t.last, t.tw_sum, t.max_gap, t.increase "
    "FROM {ranges} JOIN {table} AS t ON t.point_id = r.pid AND t.level = {child} AND t.bucket >= r.lo "
    "AND t.bucket < r.hi"
)
"""The level below's buckets, in the ranges of the parameter."""

_ROLL = (
    "INSERT INTO {table} (" + _COLUMNS + ") "
    "SELECT point_id, {level}, b, sum(n), sum(total), min(low), max(high), min(first_ts), max(fv), max(last_ts), "
    "max(CASE WHEN nxt IS NULL THEN last END), "
    "sum(tw_sum) + coalesce(sum(pl * (first_ts - plt)), 0), "
    "{greatest}, "
    "sum(increase) + coalesce(sum(CASE WHEN pl IS NULL THEN 0 WHEN first >= pl THEN first - pl ELSE first END), 0) "
    "FROM (SELECT u.*, lag(last) OVER w AS pl, lag(last_ts) OVER w AS plt, first_value(first) OVER w AS fv, "
    "lead(first_ts) OVER w AS nxt FROM ({units}) AS u "
    "WINDOW w AS (PARTITION BY point_id, b ORDER BY first_ts)) AS s "
    "WHERE true GROUP BY point_id, b "
    "ON CONFLICT (point_id, level, bucket) DO UPDATE SET n = excluded.n, total = excluded.total, "
    "low = excluded.low, high = excluded.high, first_ts = excluded.first_ts, first = excluded.first, "
    "last_ts = excluded.last_ts, last = excluded.last, tw_sum = excluded.tw_sum, max_gap = excluded.max_gap, "
    "increase = excluded.increase"
)
"""Buckets of `level` from their units (raw rows or the level below): a unit's step to the next unit (its last
value held from its last time to the next one's first time) joins the sums, as between samples."""


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
    raw, table = partition_table(year), rollup_table(year)
    width = LEVELS[0] * 1000
    runs = _runs(zip(point_ids, [ts // width for ts in stamps], strict=True), width)
    await _roll(conn, raw, table, None, LEVELS[0], runs)
    for child, level in itertools.pairwise(LEVELS):
        width = level * 1000
        # the last bucket of a run may end inside a coarser bucket whose other children lie in a later run
        runs = _runs(((pid, b) for pid, lo, hi in runs for b in range(lo // width, -(-hi // width))), width)
        await _roll(conn, raw, table, child, level, runs)


async def _roll(
    conn: Connection, raw: str, table: str, child: int | None, level: int, runs: list[tuple[int, int, int]]
) -> None:
    if not runs:
        return
    ranges = conn.dialect.range_rows
    w = level * 1000
    if child is None:
        units = _RAW_UNITS.format(w=w, ranges=ranges, table=raw)
    else:
        units = _CHILD_UNITS.format(w=w, ranges=ranges, table=table, child=child)
    greatest = conn.dialect.greatest("max(max_gap)", "coalesce(max(first_ts - plt), 0)")
    sql = _ROLL.format(table=table, level=level, units=units, greatest=greatest)
    await conn.execute(sql, (conn.dialect.pair_list(runs),))


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
    runs = [(pid, lo, hi) for pid in sorted(point_ids)]
    raw = partition_table(year)
    await _roll(conn, raw, table, None, LEVELS[0], runs)
    for child, level in itertools.pairwise(LEVELS):
        await _roll(conn, raw, table, child, level, runs)


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
