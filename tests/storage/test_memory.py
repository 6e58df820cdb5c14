"""What the in-memory maps of every point cost, and that their compact forms behave like the maps they replaced.

The realtime cache and the point directory hold every point of the site for the life of the process (a site of
1,000 controllers x 100 points is 100,000 entries). Sizes are measured with tracemalloc (Python's own count of
the bytes it allocated), so they do not depend on the machine's timing or on other processes.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample, StoredSample
from t3000gql.storage.cache import RealtimeCache
from t3000gql.storage.points import PointDirectory
from t3000gql.storage.store import Store
from tests.conftest import NOW_MS, FakeClock

from .helpers import add_device, point_id

POINTS = 20_000


def _bytes_per_point(build: Callable[[], Any]) -> float:
    """tracemalloc's count of the bytes `build()`'s result keeps, per point (what it made and let go of aside)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert kept is not None
    return (after - before) / POINTS


def _rows() -> list[tuple[int, int, PointType, int]]:
    """(point id, device id, type, number) as rows read from the database carry them: fresh int objects each, and
    device ids above 256 (ints Python does not share by itself), 100 points a device."""
    return [
        (int(str(n + 1)), int(str(1000 + n // 100)), PointType.INPUT, int(str(n % 100 + 1))) for n in range(POINTS)
    ]


def test_the_cache_holds_a_value_in_under_64_bytes() -> None:
    def build() -> RealtimeCache:
        cache = RealtimeCache(FakeClock(), 60)
        for pid, device_id, point_type, number in _rows():
            # fresh value, time and source objects for each row, as read from the database
            source = "".join(["coll", "ector"])
            ts = NOW_MS - int(str(pid))
            cache.apply([StoredSample(PointRef(device_id, point_type, number), pid, ts, float(pid), source)])
        return cache

    assert _bytes_per_point(build) < 64  # a dict of records took ~340


def test_the_directory_holds_a_point_in_under_120_bytes() -> None:
    def build() -> PointDirectory:
        directory = PointDirectory()
        for pid, device_id, point_type, number in _rows():
            directory.add(PointRef(device_id, point_type, number), pid)
        return directory

    assert _bytes_per_point(build) < 120  # two dicts of fresh objects took ~190 here (~310 loaded from SQLite)


def test_the_cache_keeps_far_ids_and_newer_values(clock: FakeClock) -> None:
    cache = RealtimeCache(clock, 60)
    ref = PointRef(1, PointType.INPUT, 1)
    far = 10**12  # beyond what the arrays stretch to: kept aside, same behaviour
    cache.apply([StoredSample(ref, 3, clock() - 1000, 1.5, "api"), StoredSample(ref, far, clock(), 2.5, "api")])
    cache.apply([StoredSample(ref, 3, clock() - 2000, 9.0, "collector")])  # older: ignored
    cache.apply([StoredSample(ref, far, clock() - 1, 9.0, "collector")])  # older: ignored
    assert cache.peek(3) is not None and (cache.peek(3).value, cache.peek(3).source) == (1.5, "api")  # type: ignore[union-attr]
    assert cache.peek(far) is not None and cache.peek(far).value == 2.5  # type: ignore[union-attr]
    assert cache.peek(2) is None and cache.peek(4) is None and cache.peek(-1) is None
    assert sorted(e.point_id for e in cache.entries()) == [3, far]
    assert cache.stats().total_points == 2 and cache.stats([3, 4, far]).fresh_points == 2
    clock.advance(60)
    assert cache.stats().stale_points == 2
    cache.forget([3, far])
    assert cache.entries() == [] and cache.stats().total_points == 0


def test_the_directory_keeps_far_ids_and_reused_ids() -> None:
    directory = PointDirectory()
    a, b = PointRef(5000, PointType.INPUT, 1), PointRef(5000, PointType.OUTPUT, 1)
    directory.add(a, 7)
    directory.add(b, 10**12)
    assert (directory.get(a), directory.ref_of(7)) == (7, a)
    assert (directory.get(b), directory.ref_of(10**12)) == (10**12, b)
    assert directory.ref_of(6) is None and directory.ref_of(-1) is None
    # another process deleted point 7 and SQLite gave its id to a new point: the old name leads nowhere now
    c = PointRef(5001, PointType.VARIABLE, 3)
    directory.add(c, 7)
    assert (directory.get(c), directory.ref_of(7), directory.get(a)) == (7, c, None)
    assert sorted(directory.drop_device(5000)) == [10**12]
    assert directory.get(b) is None and directory.ref_of(10**12) is None and directory.get(c) == 7


async def test_a_restart_finds_every_value_and_point_again(settings: Any, clock: FakeClock) -> None:
    store = await Store.open(settings, clock=clock)
    refs = [ref for device in (1001, 1002, 1003) for ref in await add_device(store, device, points=40)]
    await store.writes.record([Sample(ref, clock() - n, float(n)) for n, ref in enumerate(refs)], "collector")
    ids = {ref: await point_id(store, ref) for ref in refs}
    await store.close()

    reopened = await Store.open(settings, clock=clock)
    try:
        assert reopened.cache.stats().total_points == len(refs)
        for n, ref in enumerate(refs):
            assert reopened.points.directory.get(ref) == ids[ref]
            assert reopened.points.directory.ref_of(ids[ref]) == ref
            entry = reopened.cache.peek(ids[ref])
            assert entry is not None and (entry.value, entry.ts_ms, entry.source) == (
                float(n),
                clock() - n,
                "collector",
            )
    finally:
        await reopened.close()
