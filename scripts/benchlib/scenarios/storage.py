"""Storage scenarios: the write path and the read path in-process (no HTTP), each beside its floor: on SQLite,
plain stdlib `sqlite3` doing the same SQL work on a file of its own with the same partition layout; on
PostgreSQL (`--database postgresql://…`), plain asyncpg on a database of its own with the same layout (COPY for
writes, one SELECT for reads: `benchlib/pgfloor.py`)."""

from __future__ import annotations

import sqlite3
from functools import partial
from pathlib import Path

from benchlib.context import SQLITE, Context
from benchlib.pgfloor import PG_FLOOR, PostgresFloor
from benchlib.registry import Result, scenario
from benchlib.report import measured, per_second
from benchlib.stats import atimed, median
from t3000gql.config import Settings
from t3000gql.domain.calendar import CalendarUnit
from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Aggregate, Sample
from t3000gql.storage.partitions import PARTITION_TEMPLATE, partition_table, year_of_ms
from t3000gql.storage.store import Store

DEVICE = 1001
T2024_07_01 = 1719792000000
MINUTE = 60_000
SQLITE_FLOOR = "stdlib sqlite3, same statements and partition layout, own file"


class Floor:
    """A plain sqlite3 database with the same partition layout, written and read with the same statements."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("CREATE TABLE monitoring_points (id INTEGER PRIMARY KEY)")  # the partitions' FK target
        self.conn.executemany("INSERT INTO monitoring_points VALUES (?)", [(i,) for i in range(1, 101)])
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.tables: set[str] = set()

    def insert(self, rows: list[tuple[int, int, float]]) -> None:
        """rows: (point_id, ts, value); one transaction, grouped by year like the write path."""
        by_table: dict[str, list[tuple[int, int, float]]] = {}
        for row in rows:
            by_table.setdefault(partition_table(year_of_ms(row[1])), []).append(row)
        self.conn.execute("BEGIN IMMEDIATE")
        for table, part in by_table.items():
            if table not in self.tables:
                self.conn.execute(PARTITION_TEMPLATE.format(table=table))
                self.tables.add(table)
            self.conn.executemany(
                f"INSERT INTO {table} (point_id, ts, value) VALUES (?, ?, ?) "
                "ON CONFLICT (point_id, ts) DO UPDATE SET value = excluded.value",
                part,
            )
        self.conn.execute("COMMIT")

    def insert_batches(self, batches: list[list[tuple[int, int, float]]]) -> None:
        for rows in batches:
            self.insert(rows)

    def tables_between(self, start: int, end: int) -> list[str]:
        years = range(year_of_ms(start), year_of_ms(end - 1) + 1)
        return [t for y in years if (t := partition_table(y)) in self.tables]

    def read(self, point_id: int, start: int, end: int) -> int:
        count = 0
        for table in self.tables_between(start, end):
            rows = self.conn.execute(
                f"SELECT ts, value FROM {table} WHERE point_id = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (point_id, start, end),
            ).fetchall()
            count += len(rows)
        return count

    def aggregate(self, point_id: int, start: int, end: int, width_ms: int) -> int:
        count = 0
        for table in self.tables_between(start, end):
            rows = self.conn.execute(
                f"SELECT ts / ? AS b, avg(value), min(value), max(value) FROM {table} "
                "WHERE point_id = ? AND ts >= ? AND ts < ? GROUP BY b",
                (width_ms, point_id, start, end),
            ).fetchall()
            count += len(rows)
        return count


class AsyncFloor:
    """The floor of the scenario's backend behind one async face: stdlib sqlite3 (its calls are synchronous and
    timed as they are) or asyncpg."""

    def __init__(self, sqlite: Floor | None, postgres: PostgresFloor | None) -> None:
        self.sqlite = sqlite
        self.postgres = postgres

    @classmethod
    async def open(cls, ctx: Context) -> AsyncFloor:
        if ctx.backend == SQLITE:
            return cls(Floor(ctx.workdir / "floor.db"), None)
        return cls(None, await PostgresFloor.open(ctx.database_url("floor")))

    async def insert(self, rows: list[tuple[int, int, float]]) -> None:
        if self.sqlite is not None:
            self.sqlite.insert(rows)
        else:
            assert self.postgres is not None
            await self.postgres.insert(rows)

    async def insert_batches(self, batches: list[list[tuple[int, int, float]]]) -> None:
        for rows in batches:
            await self.insert(rows)

    async def read(self, point_id: int, start: int, end: int) -> int:
        if self.sqlite is not None:
            return self.sqlite.read(point_id, start, end)
        assert self.postgres is not None
        return await self.postgres.read(point_id, start, end)

    async def aggregate(self, point_id: int, start: int, end: int, width_ms: int) -> int:
        if self.sqlite is not None:
            return self.sqlite.aggregate(point_id, start, end, width_ms)
        assert self.postgres is not None
        return await self.postgres.aggregate(point_id, start, end, width_ms)

    async def close(self) -> None:
        if self.postgres is not None:
            await self.postgres.close()


BOTH = ("sqlite", "postgresql")
ON_POSTGRES = {"postgresql": PG_FLOOR}


async def open_store(ctx: Context, points: int = 100) -> Store:
    settings = Settings.defaults(database_url=ctx.database_url("bench"), database_pool_size=4)
    store = await Store.open(settings)
    await store.devices.upsert(DeviceInput(DEVICE, device_name="bench", device_type="T3-BB"))
    await store.points.upsert(DEVICE, [PointInput(PointType.INPUT, n) for n in range(1, points + 1)])
    return store


def samples_for(points: range, start_ms: int, count: int, step_ms: int = MINUTE) -> list[Sample]:
    refs = [PointRef(DEVICE, PointType.INPUT, n) for n in points]
    return [
        Sample(refs[i % len(refs)], start_ms + (i // len(refs)) * step_ms, float(i % 1000) / 10)
        for i in range(count)
    ]


def as_rows(samples: list[Sample]) -> list[tuple[int, int, float]]:
    return [(s.point.point_number, s.ts_ms, s.value) for s in samples]


@scenario("insert-1k", goal="median_ms <= 15", floor=SQLITE_FLOOR, backends=BOTH, floor_on=ON_POSTGRES)
async def insert_1k(ctx: Context) -> Result:
    """One batch of 1,000 samples (10 points x 100 minutes) through the write path."""
    store = await open_store(ctx)
    floor = await AsyncFloor.open(ctx)
    ours, base = [], []
    for repeat in range(ctx.repeats + 1):
        batch = samples_for(range(1, 11), T2024_07_01 + repeat * 1000 * MINUTE, 1000)
        took = await atimed(partial(store.writes.record, batch, "bench"))
        floor_took = await atimed(partial(floor.insert, as_rows(batch)))
        if repeat:  # the first round creates the partition: warm-up
            ours.append(took)
            base.append(floor_took)
    await store.close()
    await floor.close()
    return measured(ours, base, rate_per_s=per_second(1000, median(ours)))


@scenario(
    "insert-100k",
    goal="rate_per_s >= 200000",
    floor=SQLITE_FLOOR,
    backends=BOTH,
    goal_on={"postgresql": "rate_per_s >= 150000"},
    floor_on=ON_POSTGRES,
)
async def insert_100k(ctx: Context) -> Result:
    """100,000 samples (100 points) in batches of 10,000; rate_per_s is samples per second."""
    store = await open_store(ctx)
    floor = await AsyncFloor.open(ctx)
    ours, base = [], []
    for repeat in range(ctx.repeats):
        data = samples_for(range(1, 101), T2024_07_01 + repeat * 2000 * MINUTE, 100_000)
        batches = [data[i : i + 10_000] for i in range(0, len(data), 10_000)]

        async def write_all(batches: list[list[Sample]] = batches) -> None:
            for batch in batches:
                await store.writes.record(batch, "bench")

        ours.append(await atimed(write_all))
        base.append(await atimed(partial(floor.insert_batches, [as_rows(b) for b in batches])))
    await store.close()
    await floor.close()
    return measured(
        ours,
        base,
        rate_per_s=per_second(100_000, median(ours)),
        floor_rate_per_s=round(100_000 / (median(base) / 1000)),
    )


async def _range(ctx: Context, size: int) -> Result:
    store = await open_store(ctx, points=1)
    floor = await AsyncFloor.open(ctx)
    # one point with 2x the samples asked for, crossing no year boundary
    data = samples_for(range(1, 2), T2024_07_01, 2 * size)
    for i in range(0, len(data), 50_000):
        await store.writes.record(data[i : i + 50_000], "bench")
        await floor.insert(as_rows(data[i : i + 50_000]))
    pid = (await store.points.resolve([data[0].point]))[data[0].point]
    start = T2024_07_01 + (size // 2) * MINUTE
    end = start + size * MINUTE
    got = await store.history.read_range([pid], start, end)
    if len(got[pid].values) != size or await floor.read(1, start, end) != size:
        raise RuntimeError(f"expected {size} samples, read {len(got[pid].values)}")
    ours = [await atimed(lambda: store.history.read_range([pid], start, end)) for _ in range(ctx.repeats)]
    base = [await atimed(lambda: floor.read(1, start, end)) for _ in range(ctx.repeats)]
    await store.close()
    await floor.close()
    return measured(ours, base, rate_per_s=per_second(size, median(ours)))


@scenario("range-1k", goal="median_ms <= 5", floor=SQLITE_FLOOR, backends=BOTH, floor_on=ON_POSTGRES)
async def range_1k(ctx: Context) -> Result:
    """1,000 samples of one point read through the read path."""
    return await _range(ctx, 1_000)


@scenario(
    "range-100k",
    goal="median_ms <= 150",
    floor=SQLITE_FLOOR,
    backends=BOTH,
    goal_on={"postgresql": "ratio <= 2"},
    floor_on=ON_POSTGRES,
)
async def range_100k(ctx: Context) -> Result:
    """100,000 samples of one point read through the read path."""
    return await _range(ctx, 100_000)


@scenario(
    "agg-year-15min",
    goal="median_ms <= 50",
    floor=SQLITE_FLOOR + " (the raw scan: GROUP BY ts / width over the samples)",
    backends=BOTH,
    floor_on={"postgresql": PG_FLOOR + " (the raw scan: GROUP BY ts / width over the samples)"},
)
async def agg_year(ctx: Context) -> Result:
    """A year of 1-minute samples (525,600, across a year boundary) into 15-minute avg/min/max buckets: read from
    the 5-minute rollups the write path keeps; the floor is the raw scan the read did before rollups."""
    store = await open_store(ctx, points=1)
    floor = await AsyncFloor.open(ctx)
    data = samples_for(range(1, 2), T2024_07_01, 525_600)
    for i in range(0, len(data), 50_000):
        await store.writes.record(data[i : i + 50_000], "bench")
        await floor.insert(as_rows(data[i : i + 50_000]))
    pid = (await store.points.resolve([data[0].point]))[data[0].point]
    start, end = T2024_07_01, T2024_07_01 + 525_600 * MINUTE
    aggs = [Aggregate.AVG, Aggregate.MIN, Aggregate.MAX]
    got = await store.history.aggregate([pid], start, end, 900, aggs)
    if len(got[pid].bucket_starts) != 525_600 // 15:
        raise RuntimeError(f"expected {525_600 // 15} buckets, got {len(got[pid].bucket_starts)}")
    ours = [
        await atimed(lambda: store.history.aggregate([pid], start, end, 900, aggs)) for _ in range(ctx.repeats)
    ]
    base = [await atimed(lambda: floor.aggregate(1, start, end, 900_000)) for _ in range(ctx.repeats)]
    await store.close()
    await floor.close()
    return measured(ours, base, rate_per_s=per_second(525_600, median(ours)))


async def _year_store(ctx: Context, years: int) -> tuple[Store, int, int, int]:
    """One point with `years` years of 1-minute samples ending 2025-07-01 (so ten years lie in the past, where
    the write path accepts them), written through the write path (the rollups with them); returns the store, the
    point id and the range."""
    store = await open_store(ctx, points=1)
    count = years * 525_600
    start = T2024_07_01 + 525_600 * MINUTE - count * MINUTE
    ref = PointRef(DEVICE, PointType.INPUT, 1)
    for i in range(0, count, 100_000):
        batch = [Sample(ref, start + j * MINUTE, float(j % 1000) / 10) for j in range(i, min(i + 100_000, count))]
        await store.writes.record(batch, "bench")
    pid = (await store.points.resolve([ref]))[ref]
    return store, pid, start, start + count * MINUTE


@scenario(
    "agg-month-calendar",
    goal="median_ms <= 10",
    floor=SQLITE_FLOOR + " (the raw scan into 12 fixed 30-day buckets: what it cost without rollups)",
    backends=BOTH,
    floor_on={"postgresql": PG_FLOOR + " (the raw scan into fixed 30-day buckets)"},
)
async def agg_month_calendar(ctx: Context) -> Result:
    """A year of 1-minute samples into calendar months in Europe/Berlin (avg, min, max): the hourly rollups
    answer every whole local month, raw rows the ragged edges."""
    store, pid, start, end = await _year_store(ctx, 1)
    floor = await AsyncFloor.open(ctx)
    data = samples_for(range(1, 2), start, 525_600)
    for i in range(0, len(data), 50_000):
        await floor.insert(as_rows(data[i : i + 50_000]))
    aggs = [Aggregate.AVG, Aggregate.MIN, Aggregate.MAX]

    async def read() -> object:
        return await store.history.aggregate_calendar([pid], start, end, CalendarUnit.MONTH, "Europe/Berlin", aggs)

    got = (await read())[pid]  # type: ignore[index]
    if len(got.starts) != 13:  # July 2024 .. July 2025 (the range starts and ends inside a month)
        raise RuntimeError(f"expected 13 calendar months, got {len(got.starts)}")
    ours = [await atimed(read) for _ in range(ctx.repeats)]
    base = [await atimed(lambda: floor.aggregate(1, start, end, 30 * 86_400_000)) for _ in range(ctx.repeats)]
    await store.close()
    await floor.close()
    return measured(ours, base)


@scenario(
    "agg-10y-daily",
    goal="median_ms <= 20",
    floor=SQLITE_FLOOR + " (the raw scan: GROUP BY ts / day over one of the ten years, times ten)",
    backends=BOTH,
    floor_on={"postgresql": PG_FLOOR + " (the raw scan over one year, times ten)"},
)
async def agg_10y_daily(ctx: Context) -> Result:
    """Ten years of 1-minute samples (5,256,000) into daily buckets (avg, min, max) from the daily rollups.
    Setting up writes all of them through the write path: minutes, not seconds."""
    store, pid, start, end = await _year_store(ctx, 10)
    floor = await AsyncFloor.open(ctx)
    data = samples_for(range(1, 2), start, 525_600)
    for i in range(0, len(data), 50_000):
        await floor.insert(as_rows(data[i : i + 50_000]))
    aggs = [Aggregate.AVG, Aggregate.MIN, Aggregate.MAX]
    got = (await store.history.aggregate([pid], start, end, 86_400, aggs))[pid]
    if len(got.bucket_starts) != 3650:
        raise RuntimeError(f"expected 3650 days, got {len(got.bucket_starts)}")
    ours = [
        await atimed(lambda: store.history.aggregate([pid], start, end, 86_400, aggs)) for _ in range(ctx.repeats)
    ]
    one_year = start + 525_600 * MINUTE
    base = [10 * await atimed(lambda: floor.aggregate(1, start, one_year, 86_400_000)) for _ in range(ctx.repeats)]
    await store.close()
    await floor.close()
    return measured(ours, base)
