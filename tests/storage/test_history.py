from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from t3000gql.domain.samples import Aggregate, Sample
from t3000gql.errors import ValidationError
from t3000gql.storage.store import Store

from .helpers import add_device, point_id

CLASSIC = [
    Aggregate.AVG,
    Aggregate.MIN,
    Aggregate.MAX,
    Aggregate.SUM,
    Aggregate.COUNT,
    Aggregate.FIRST,
    Aggregate.LAST,
]
"""The aggregates computed per bucket in SQL (the time-aware ones have tests of their own: test_calendar.py)."""
NEW_YEAR_2025 = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)


def python_buckets(rows: list[tuple[int, float]], start: int, end: int, width: int) -> dict[int, list[float]]:
    buckets: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for ts, value in sorted(rows):
        if start <= ts < end:
            buckets[ts // width * width].append((ts, value))
    return {
        b: [
            sum(v for _, v in items) / len(items),
            min(v for _, v in items),
            max(v for _, v in items),
            sum(v for _, v in items),
            float(len(items)),
            items[0][1],
            items[-1][1],
        ]
        for b, items in sorted(buckets.items())
    }


@pytest.mark.parametrize("interval", [60, 7 * 24 * 3600, 3 * 3600 + 7])
async def test_aggregation_equals_a_straightforward_python_computation(store: Store, interval: int) -> None:
    refs = await add_device(store, points=2)
    rng = random.Random(interval)
    # random times over six weeks around New Year (buckets may span the partition boundary)
    start = NEW_YEAR_2025 - 21 * 86_400_000
    end = NEW_YEAR_2025 + 21 * 86_400_000
    stamps = sorted(rng.sample(range(start, end, 1000), 3000))
    data = {ref: [(ts, round(rng.uniform(-50, 50), 3)) for ts in stamps if rng.random() < 0.7] for ref in refs}
    await store.writes.record([Sample(ref, ts, v) for ref, rows in data.items() for ts, v in rows], "api")
    pids = [await point_id(store, ref) for ref in refs]
    q_start, q_end = start + 12_345, end - 54_321
    got = await store.history.aggregate(pids, q_start, q_end, interval, CLASSIC)
    for ref, pid in zip(refs, pids, strict=True):
        expected = python_buckets(data[ref], q_start, q_end, interval * 1000)
        series = got[pid]
        assert series.bucket_starts == list(expected)
        for column, agg in enumerate(CLASSIC):
            assert series.values[agg] == pytest.approx([row[column] for row in expected.values()]), agg


async def test_a_limit_truncates_the_newest_part_and_says_where_to_continue(store: Store) -> None:
    ref = (await add_device(store))[0]
    pid = await point_id(store, ref)
    stamps = [NEW_YEAR_2025 - 5000 + i * 1000 for i in range(10)]  # five before New Year, five after
    await store.writes.record([Sample(ref, ts, float(i)) for i, ts in enumerate(stamps)], "api")
    collected: list[int] = []
    start, pages = stamps[0], 0
    while True:
        page = (await store.history.read_range([pid], start, stamps[-1] + 1, limit=4))[pid]
        collected += page.timestamps
        pages += 1
        if not page.truncated:
            break
        assert page.next_start is not None
        start = page.next_start
    assert collected == stamps
    assert pages == 3


async def test_a_limit_applies_per_point_when_reading_many(store: Store) -> None:
    refs = await add_device(store, points=3)
    pids = [await point_id(store, ref) for ref in refs]
    samples = [
        Sample(ref, NEW_YEAR_2025 + i * 1000, float(i)) for n, ref in enumerate(refs, 1) for i in range(n * 3)
    ]
    await store.writes.record(samples, "api")
    got = await store.history.read_range(pids, NEW_YEAR_2025, NEW_YEAR_2025 + 100_000, limit=5)
    assert [len(got[pid].values) for pid in pids] == [3, 5, 5]
    assert [got[pid].truncated for pid in pids] == [False, True, True]
    assert got[pids[1]].next_start == NEW_YEAR_2025 + 5000


async def test_latest_value_at_or_before_a_time_looks_into_older_partitions(store: Store) -> None:
    refs = await add_device(store, points=2)
    pids = [await point_id(store, ref) for ref in refs]
    await store.writes.record(
        [Sample(refs[0], NEW_YEAR_2025 - 60_000, 1.0), Sample(refs[0], NEW_YEAR_2025 + 60_000, 2.0)], "api"
    )
    assert await store.history.latest_at(pids, NEW_YEAR_2025) == {pids[0]: (NEW_YEAR_2025 - 60_000, 1.0)}
    assert await store.history.latest_at(pids, NEW_YEAR_2025 + 60_000) == {pids[0]: (NEW_YEAR_2025 + 60_000, 2.0)}


async def test_an_empty_or_reversed_range_is_a_clear_error(store: Store) -> None:
    with pytest.raises(ValidationError, match="later than the start"):
        await store.history.read_range([1], 10, 10)
    with pytest.raises(ValidationError, match="interval_seconds"):
        await store.history.aggregate([1], 0, 10, 0, [Aggregate.AVG])
