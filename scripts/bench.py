#!/usr/bin/env python3
"""Benchmark scenarios of t3000gql, each beside plain stdlib `sqlite3` doing the same SQL work (the floor).

    python scripts/bench.py                      # every scenario
    python scripts/bench.py --scenario insert-1k,range-1k --json bench.json

Prints one table: median and p95 over repeats, the floor's median, the ratio (median / floor) and a rate where
one applies. `--json FILE` writes {"scenarios": {NAME: {"median_ms", "p95_ms", "floor_ms", "ratio",
"rate_per_s", ...}}}. Other scenario modules (scripts/bench_*.py) register themselves through `SCENARIOS`.
Timings belong here, never in a test's assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from t3000gql.config import Settings  # noqa: E402
from t3000gql.domain.inputs import DeviceInput, PointInput  # noqa: E402
from t3000gql.domain.points import PointRef, PointType  # noqa: E402
from t3000gql.domain.samples import Aggregate, Sample  # noqa: E402
from t3000gql.storage.partitions import PARTITION_TEMPLATE, partition_table, year_of_ms  # noqa: E402
from t3000gql.storage.store import Store  # noqa: E402

Result = dict[str, Any]
Scenario = Callable[[argparse.Namespace], Result]
SCENARIOS: dict[str, Scenario] = {}
EXTRA_MODULES = ("bench_api", "bench_live", "bench_collect", "bench_stations", "bench_memory")

DEVICE = 1001
T2024_07_01 = 1719792000000
MINUTE = 60_000


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def register(func: Scenario) -> Scenario:
        SCENARIOS[name] = func
        return func

    return register


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(times_ms: list[float], floor_ms: list[float] | None = None, **extra: Any) -> Result:
    median = statistics.median(times_ms)
    floor = statistics.median(floor_ms) if floor_ms else None
    return {
        "median_ms": round(median, 3),
        "p95_ms": round(percentile(times_ms, 0.95), 3),
        "floor_ms": round(floor, 3) if floor is not None else None,
        "ratio": round(median / floor, 2) if floor else None,
        "rate_per_s": None,
        "repeats": len(times_ms),
        **extra,
    }


# --- the floor: stdlib sqlite3 doing the same SQL work on its own file -----------------------------------


class Floor:
    """A plain sqlite3 database with the same partition layout, written and read with the same statements."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(
            "CREATE TABLE monitoring_points (id INTEGER PRIMARY KEY)"
        )  # the partitions' foreign key target
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


# --- t3000gql side -----------------------------------------------------------------------------------------


async def open_store(directory: Path, points: int = 100) -> Store:
    settings = Settings.defaults(database_url=f"sqlite:///{directory}/bench.db", database_pool_size=4)
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


def timed(func: Callable[[], Any]) -> float:
    start = time.perf_counter()
    func()
    return (time.perf_counter() - start) * 1000


async def atimed(func: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await func()
    return (time.perf_counter() - start) * 1000


@scenario("insert-1k")
def insert_1k(args: argparse.Namespace) -> Result:
    """One batch of 1,000 samples (10 points x 100 minutes) through the write path; goal <= 15 ms."""

    async def run(tmp: Path) -> Result:
        store = await open_store(tmp)
        floor = Floor(tmp / "floor.db")
        ours, base = [], []
        for repeat in range(args.repeats + 1):
            batch = samples_for(range(1, 11), T2024_07_01 + repeat * 1000 * MINUTE, 1000)
            took = await atimed(lambda b=batch: store.writes.record(b, "bench"))
            floor_took = timed(lambda b=batch: floor.insert(as_rows(b)))
            if repeat:  # the first round creates the partition: warm-up
                ours.append(took)
                base.append(floor_took)
        await store.close()
        result = summary(ours, base)
        result["rate_per_s"] = round(1000 / (result["median_ms"] / 1000))
        return result

    return in_tmp(run)


@scenario("insert-100k")
def insert_100k(args: argparse.Namespace) -> Result:
    """100,000 samples in batches of 10,000; goal >= 200,000 samples/s."""

    async def run(tmp: Path) -> Result:
        store = await open_store(tmp)
        floor = Floor(tmp / "floor.db")
        ours, base = [], []
        for repeat in range(args.repeats):
            data = samples_for(range(1, 101), T2024_07_01 + repeat * 2000 * MINUTE, 100_000)
            batches = [data[i : i + 10_000] for i in range(0, len(data), 10_000)]

            async def write_all(batches: list[list[Sample]] = batches) -> None:
                for batch in batches:
                    await store.writes.record(batch, "bench")

            ours.append(await atimed(write_all))
            rows = [as_rows(b) for b in batches]
            base.append(timed(lambda rows=rows: [floor.insert(r) for r in rows]))
        await store.close()
        result = summary(ours, base)
        result["rate_per_s"] = round(100_000 / (result["median_ms"] / 1000))
        result["floor_rate_per_s"] = round(100_000 / (result["floor_ms"] / 1000))
        return result

    return in_tmp(run)


def _range_scenario(args: argparse.Namespace, size: int) -> Result:
    async def run(tmp: Path) -> Result:
        store = await open_store(tmp, points=1)
        floor = Floor(tmp / "floor.db")
        # one point with 2x the samples asked for, crossing no year boundary
        data = samples_for(range(1, 2), T2024_07_01, 2 * size)
        for i in range(0, len(data), 50_000):
            await store.writes.record(data[i : i + 50_000], "bench")
            floor.insert(as_rows(data[i : i + 50_000]))
        pid = (await store.points.resolve([data[0].point]))[data[0].point]
        start = T2024_07_01 + (size // 2) * MINUTE
        end = start + size * MINUTE
        got = await store.history.read_range([pid], start, end)
        assert len(got[pid].values) == size, len(got[pid].values)
        assert floor.read(1, start, end) == size
        ours = [await atimed(lambda: store.history.read_range([pid], start, end)) for _ in range(args.repeats)]
        base = [timed(lambda: floor.read(1, start, end)) for _ in range(args.repeats)]
        await store.close()
        result = summary(ours, base)
        result["rate_per_s"] = round(size / (result["median_ms"] / 1000))
        return result

    return in_tmp(run)


@scenario("range-1k")
def range_1k(args: argparse.Namespace) -> Result:
    """1,000 samples of one point; goal <= 5 ms."""
    return _range_scenario(args, 1_000)


@scenario("range-100k")
def range_100k(args: argparse.Namespace) -> Result:
    """100,000 samples of one point; goal <= 150 ms."""
    return _range_scenario(args, 100_000)


@scenario("agg-year-15min")
def agg_year(args: argparse.Namespace) -> Result:
    """A year of 1-minute samples (525,600, across a year boundary) into 15-minute avg/min/max buckets;
    goal <= 1.5x the sqlite3 floor."""

    async def run(tmp: Path) -> Result:
        store = await open_store(tmp, points=1)
        floor = Floor(tmp / "floor.db")
        data = samples_for(range(1, 2), T2024_07_01, 525_600)
        for i in range(0, len(data), 50_000):
            await store.writes.record(data[i : i + 50_000], "bench")
            floor.insert(as_rows(data[i : i + 50_000]))
        pid = (await store.points.resolve([data[0].point]))[data[0].point]
        start, end = T2024_07_01, T2024_07_01 + 525_600 * MINUTE
        aggs = [Aggregate.AVG, Aggregate.MIN, Aggregate.MAX]
        got = await store.history.aggregate([pid], start, end, 900, aggs)
        assert len(got[pid].bucket_starts) == 525_600 // 15
        ours = [
            await atimed(lambda: store.history.aggregate([pid], start, end, 900, aggs))
            for _ in range(args.repeats)
        ]
        base = [timed(lambda: floor.aggregate(1, start, end, 900_000)) for _ in range(args.repeats)]
        await store.close()
        result = summary(ours, base)
        result["rate_per_s"] = round(525_600 / (result["median_ms"] / 1000))
        return result

    return in_tmp(run)


def in_tmp(run: Callable[[Path], Awaitable[Result]]) -> Result:
    with tempfile.TemporaryDirectory(prefix="t3000gql-bench-") as tmp:
        return asyncio.run(run(Path(tmp)))


def _adapt(func: Callable[..., Result]) -> Scenario:
    """Scenario modules take either the parsed arguments or `(workdir: Path, *, quick: bool)`; both run here."""
    params = inspect.signature(func).parameters
    if "workdir" not in params:
        return func

    def run(args: argparse.Namespace) -> Result:
        with tempfile.TemporaryDirectory(prefix="t3000gql-bench-") as tmp:
            return func(Path(tmp), **({"quick": args.quick} if "quick" in params else {}))

    return run


def load_extra_scenarios() -> None:
    for name in EXTRA_MODULES:
        if (ROOT / "scripts" / f"{name}.py").exists():
            module = importlib.import_module(name)
            SCENARIOS.update({key: _adapt(func) for key, func in getattr(module, "SCENARIOS", {}).items()})


def main(argv: list[str] | None = None) -> int:
    load_extra_scenarios()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", help="comma-separated names (default: all): " + ", ".join(SCENARIOS))
    parser.add_argument("--repeats", type=int, default=7, help="repeats per scenario (at least 5 counts)")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--quick", action="store_true", help="fewer runs and shorter loads (a smoke run)")
    args = parser.parse_args(argv)
    names = args.scenario.split(",") if args.scenario else list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    results: dict[str, Result] = {}
    print(f"{'scenario':<26}{'median ms':>11}{'p95 ms':>10}{'floor ms':>10}{'ratio':>8}{'rate/s':>12}")
    for name in names:
        result = SCENARIOS[name](args)
        results[name] = result
        cells = [result.get(k) for k in ("median_ms", "p95_ms", "floor_ms", "ratio", "rate_per_s")]
        text = ["-" if v is None else (f"{v:,.0f}" if i == 4 else f"{v:.2f}") for i, v in enumerate(cells)]
        print(f"{name:<26}{text[0]:>11}{text[1]:>10}{text[2]:>10}{text[3]:>8}{text[4]:>12}", flush=True)
        extra = {
            k: v for k, v in result.items() if k not in {"median_ms", "p95_ms", "floor_ms", "ratio", "rate_per_s"}
        }
        if extra:
            print(f"{'':<26}{json.dumps(extra)}")
    if args.json:
        args.json.write_text(json.dumps({"scenarios": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
