"""Rollups against raw scans: aggregates read through the rollups equal a straightforward computation over the
samples that were written (late, repeated and corrected ones included), to the bit for COUNT/MIN/MAX/FIRST/LAST
and within 1e-9 relative for SUM/AVG; the rollups the write path kept equal a rebuild from the raw rows; deleting
points and retention take their rollups along. Seeded random loops on both databases."""

from __future__ import annotations

import asyncio
import math
import random
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from t3000gql.config import Settings
from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import Aggregate, Sample
from t3000gql.storage import rollups
from t3000gql.storage.store import Store
from tests.conftest import FakeClock

from .helpers import add_device, point_id, table_names

NEW_YEAR_2025 = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000
CLASSIC = [
    Aggregate.AVG,
    Aggregate.MIN,
    Aggregate.MAX,
    Aggregate.SUM,
    Aggregate.COUNT,
    Aggregate.FIRST,
    Aggregate.LAST,
]
EXACT = (Aggregate.COUNT, Aggregate.MIN, Aggregate.MAX, Aggregate.FIRST, Aggregate.LAST)


def reference(rows: dict[int, float], start: int, end: int, width: int) -> dict[int, dict[Aggregate, float]]:
    """Every aggregate of every bucket, computed from the samples in Python."""
    buckets: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for ts in sorted(rows):
        if start <= ts < end:
            buckets[ts // width * width].append((ts, rows[ts]))
    out = {}
    for b, items in sorted(buckets.items()):
        values = [v for _, v in items]
        out[b] = {
            Aggregate.COUNT: float(len(values)),
            Aggregate.SUM: math.fsum(values),
            Aggregate.AVG: math.fsum(values) / len(values),
            Aggregate.MIN: min(values),
            Aggregate.MAX: max(values),
            Aggregate.FIRST: values[0],
            Aggregate.LAST: values[-1],
        }
    return out


async def assert_answers_like_raw(
    store: Store, written: dict[PointRef, dict[int, float]], rng: random.Random, rounds: int = 12
) -> None:
    refs = list(written)
    pids = [await point_id(store, ref) for ref in refs]
    for _ in range(rounds):
        interval = rng.choice([300, 900, 3600, 7200, 86400, 3 * 86400, 61, 1800])
        span = (NEW_YEAR_2025 - 5 * 86_400_000, NEW_YEAR_2025 + 5 * 86_400_000)
        start = rng.randrange(span[0] - 86_400_000, span[1])
        if rng.random() < 0.3:
            start = rollups.floor_to(start, rng.choice(rollups.LEVELS))  # aligned starts too
        end = start + rng.randrange(1, 4 * 86_400_000)
        got = await store.history.aggregate(pids, start, end, interval, CLASSIC)
        for ref, pid in zip(refs, pids, strict=True):
            expected = reference(written[ref], start, end, interval * 1000)
            series = got[pid]
            assert series.bucket_starts == list(expected), (interval, start, end)
            for agg in CLASSIC:
                want = [row[agg] for row in expected.values()]
                if agg in EXACT:
                    assert series.values[agg] == want, (agg, interval, start, end)
                else:
                    assert series.values[agg] == pytest.approx(want, rel=1e-9, abs=1e-9), (agg, interval)


async def snapshot(store: Store) -> dict[tuple[int, int, int, int], tuple[float, ...]]:
    found = {}
    for year in store.partitions.years:
        rows = await store.db.fetch_all(f"SELECT * FROM {rollups.rollup_table(year)}")
        for row in rows:
            found[(year, row[0], row[1], row[2])] = tuple(row[3:])
    return found


def assert_same_rollups(kept: dict, rebuilt: dict) -> None:
    assert kept.keys() == rebuilt.keys()
    for key, row in kept.items():
        assert row == pytest.approx(rebuilt[key], rel=1e-9, abs=1e-6), key


async def test_rollups_answer_like_raw_scans_with_late_duplicate_and_corrected_samples(store: Store) -> None:
    refs = await add_device(store, points=3)
    rng = random.Random(12)
    written: dict[PointRef, dict[int, float]] = {ref: {} for ref in refs}
    base = NEW_YEAR_2025 - 4 * 86_400_000
    ends = dict.fromkeys(refs, base)
    for batch_no in range(10):
        batch = []
        if batch_no % 3 != 1:  # in order, each point going on from its last sample (inside the same buckets)
            for ref in refs:
                ts = ends[ref] + (0 if batch_no % 3 == 0 else 12 * 3_600_000)
                for _ in range(rng.randrange(200, 1500)):
                    ts += rng.randrange(1_000, 90_000)
                    batch.append(Sample(ref, ts, round(rng.uniform(-100, 100), 3)))
                ends[ref] = ts
        elif (
            batch_no % 2
        ):  # late samples, repeats of stored times with new values, and duplicates within the batch
            stored = [(ref, ts) for ref in refs for ts in written[ref]]
            for ref, ts in rng.sample(stored, min(len(stored), 300)):
                batch.append(Sample(ref, ts, round(rng.uniform(-100, 100), 3)))
            for _ in range(300):
                ref = rng.choice(refs)
                ts = rng.randrange(base - 86_400_000, base + 9 * 86_400_000)
                batch.append(Sample(ref, ts, float(rng.randrange(-5, 5))))
                if rng.random() < 0.2:
                    batch.append(Sample(ref, ts, float(rng.randrange(-5, 5))))  # the last one wins
        else:  # new samples only, between stored ones
            for _ in range(300):
                ref = rng.choice(refs)
                ts = rng.randrange(base, max(ends.values()))
                if ts not in written[ref]:
                    batch.append(Sample(ref, ts, round(rng.uniform(-100, 100), 3)))
        rng.shuffle(batch)
        await store.writes.record(batch, "api")
        for sample in batch:  # last value wins, in batch order
            written[sample.point][sample.ts_ms] = float(sample.value)
        await assert_answers_like_raw(store, written, rng, rounds=4)

    kept = await snapshot(store)
    assert any(key[2] == 86400 for key in kept) and any(key[2] == 300 for key in kept)
    await rollups.rebuild_all(store.db, store.partitions.years, None, None)
    assert_same_rollups(kept, await snapshot(store))


async def test_deleting_a_point_deletes_its_rollups(store: Store) -> None:
    refs = await add_device(store, points=2)
    samples = [Sample(ref, NEW_YEAR_2025 - 30 * MINUTE + i * MINUTE, float(i)) for ref in refs for i in range(60)]
    await store.writes.record(samples, "api")
    gone, kept = await point_id(store, refs[0]), await point_id(store, refs[1])
    await store.points.delete(refs[0])
    for year in (2024, 2025):
        rows = await store.db.fetch_all(f"SELECT DISTINCT point_id FROM {rollups.rollup_table(year)}")
        assert {r[0] for r in rows} == {kept}, gone


async def test_retention_drops_and_trims_rollups_with_the_history(store: Store, clock: FakeClock) -> None:
    refs = await add_device(store, points=1)
    ref = refs[0]
    rng = random.Random(3)
    day = 86_400_000
    start = int(datetime(2023, 5, 30, tzinfo=UTC).timestamp() * 1000)
    stamps = sorted({start + rng.randrange(0, 6 * day) for _ in range(3000)})
    stamps += [int(datetime(2021, 6, 1, tzinfo=UTC).timestamp() * 1000)]
    now = int(datetime(2026, 6, 1, 7, 3, tzinfo=UTC).timestamp() * 1000)
    stamps += [now]  # retention measures from the newest sample (and the clock): this one is "now"
    written = {ts: round(rng.uniform(0, 10), 2) for ts in stamps}
    await store.writes.record([Sample(ref, ts, v) for ts, v in written.items()], "api")
    assert "rollups_2021" in await table_names(store.db)
    clock.now_ms = now
    report = await store.apply_retention()  # 1095 days: the cut-off falls on 2023-06-02 07:03
    removed = {(part.year, part.whole) for part in report.parts if part.year is not None}
    assert removed == {(2021, True), (2023, False)}
    assert "rollups_2021" not in await table_names(store.db)
    left = {ts: v for ts, v in written.items() if ts >= report.cutoff_ms}
    pid = await point_id(store, ref)
    for interval in (300, 3600, 86400):
        got = (await store.history.aggregate([pid], start - day, start + 7 * day, interval, CLASSIC))[pid]
        expected = reference(left, start - day, start + 7 * day, interval * 1000)
        assert got.bucket_starts == list(expected)
        assert got.values[Aggregate.COUNT] == [row[Aggregate.COUNT] for row in expected.values()]
        assert got.values[Aggregate.FIRST] == [row[Aggregate.FIRST] for row in expected.values()]
    kept = await snapshot(store)
    await rollups.rebuild_all(store.db, store.partitions.years, None, None)
    assert_same_rollups(kept, await snapshot(store))


async def test_a_year_written_before_rollups_is_read_raw_until_rebuilt(
    settings: Settings, clock: FakeClock
) -> None:
    first = await Store.open(settings, clock=clock)
    ref = (await add_device(first, points=1))[0]
    data = {NEW_YEAR_2025 + i * MINUTE: float(i % 13) for i in range(3000)}
    await first.writes.record([Sample(ref, ts, v) for ts, v in data.items()], "api")
    # as a database migrated from before rollups: the year's rows exist, its rollups do not
    async with first.db.writer() as conn:
        await rollups.drop_year(conn, 2025)
    await first.close()
    store = await Store.open(settings, clock=clock)
    try:
        await _read_raw_until_rebuilt(store, ref, data)
    finally:
        await store.close()


async def _read_raw_until_rebuilt(store: Store, ref: PointRef, data: dict[int, float]) -> None:
    pid = await point_id(store, ref)
    expected = reference(data, NEW_YEAR_2025, NEW_YEAR_2025 + 3000 * MINUTE, 3_600_000)
    got = (await store.history.aggregate([pid], NEW_YEAR_2025, NEW_YEAR_2025 + 3000 * MINUTE, 3600, EXACT))[pid]
    assert got.values[Aggregate.COUNT] == [row[Aggregate.COUNT] for row in expected.values()]
    # a later write into that year makes its rollup table again, but the year stays incomplete...
    await store.writes.record([Sample(ref, NEW_YEAR_2025 + 5000 * MINUTE, 1.0)], "api")
    complete = {r[0]: r[1] for r in await store.db.fetch_all("SELECT year, complete FROM rollup_years")}
    assert complete[2025] == 0
    data[NEW_YEAR_2025 + 5000 * MINUTE] = 1.0
    got = (await store.history.aggregate([pid], NEW_YEAR_2025, NEW_YEAR_2025 + 6000 * MINUTE, 3600, EXACT))[pid]
    expected = reference(data, NEW_YEAR_2025, NEW_YEAR_2025 + 6000 * MINUTE, 3_600_000)
    assert got.values[Aggregate.COUNT] == [row[Aggregate.COUNT] for row in expected.values()]
    # ...until rebuilt
    await rollups.rebuild_all(store.db, store.partitions.years, None, None)
    complete = {r[0]: r[1] for r in await store.db.fetch_all("SELECT year, complete FROM rollup_years")}
    assert complete[2025] == 1
    got = (await store.history.aggregate([pid], NEW_YEAR_2025, NEW_YEAR_2025 + 6000 * MINUTE, 3600, EXACT))[pid]
    assert got.values[Aggregate.COUNT] == [row[Aggregate.COUNT] for row in expected.values()]


async def run_cli(settings: Settings, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "t3000gql", *args],
        env={"DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_the_rebuild_rollups_command_recomputes_them(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    refs = await add_device(store, points=2)
    rng = random.Random(5)
    samples = [
        Sample(ref, NEW_YEAR_2025 - 2 * 86_400_000 + i * 97_000, round(rng.uniform(0, 50), 2))
        for ref in refs
        for i in range(4000)
    ]
    await store.writes.record(samples, "api")
    kept = await snapshot(store)
    # as after an import into a database from before rollups: rows without rollups, the years incomplete
    async with store.db.writer() as conn:
        for year in store.partitions.years:
            await conn.execute(f"DELETE FROM {rollups.rollup_table(year)}")
        await conn.execute("UPDATE rollup_years SET complete = 0")

    one = await run_cli(settings, tmp_path, "rebuild-rollups", "--point", f"{refs[0]}", "--since", "2025-01-01")
    assert one.returncode == 0, one.stderr
    assert "rebuilt the rollups of 1 point-years" in one.stdout
    partial = await snapshot(store)
    pid = await point_id(store, refs[0])
    assert partial and all(key[0] == 2025 and key[1] == pid for key in partial)
    assert_same_rollups(partial, {key: row for key, row in kept.items() if key in partial})

    done = await run_cli(settings, tmp_path, "rebuild-rollups")
    assert done.returncode == 0, done.stderr
    assert "rebuilt the rollups of 4 point-years" in done.stdout
    assert_same_rollups(kept, await snapshot(store))
    assert await store.db.fetch_all("SELECT year, complete FROM rollup_years ORDER BY year") == [
        (2024, 1),
        (2025, 1),
    ]

    bad = await run_cli(settings, tmp_path, "rebuild-rollups", "--point", "1001/NOPE/1")
    assert bad.returncode != 0 and "--point" in bad.stderr
