from __future__ import annotations

from t3000gql.config import Settings
from t3000gql.domain.samples import Sample
from t3000gql.storage.store import Store
from tests.conftest import FakeClock

from .helpers import add_device, point_id


async def test_a_value_is_fresh_for_the_cache_duration_then_stale(store: Store, clock: FakeClock) -> None:
    ref = (await add_device(store))[0]
    pid = await point_id(store, ref)
    await store.writes.record([Sample(ref, clock(), 21.5)], "collector")
    assert store.cache.lookup(pid).fresh
    clock.advance(59.999)
    assert store.cache.lookup(pid).fresh
    clock.advance(0.001)  # CACHE_DURATION_SECONDS=60
    lookup = store.cache.lookup(pid)
    assert not lookup.fresh and lookup.entry is not None and lookup.entry.value == 21.5
    stats = store.cache.stats()
    assert (stats.total_points, stats.fresh_points, stats.stale_points) == (1, 0, 1)
    assert (stats.hits, stats.misses) == (2, 1)
    assert stats.cache_hit_rate == 2 / 3


async def test_a_missing_point_is_a_miss(store: Store) -> None:
    lookup = store.cache.lookup(12345)
    assert lookup.entry is None and not lookup.fresh
    assert store.cache.stats().misses == 1


async def test_after_a_restart_the_last_values_are_back(settings: Settings, clock: FakeClock) -> None:
    store = await Store.open(settings, clock=clock)
    ref = (await add_device(store))[0]
    pid = await point_id(store, ref)
    await store.writes.record([Sample(ref, clock() - 1000, 3.25)], "collector")
    await store.close()

    reopened = await Store.open(settings, clock=clock)
    try:
        entry = reopened.cache.peek(pid)
        assert entry is not None and (entry.value, entry.source) == (3.25, "collector")
        assert reopened.cache.lookup(pid).fresh
        clock.advance(3600)
        assert not reopened.cache.lookup(pid).fresh  # old now: still served, marked stale
    finally:
        await reopened.close()


async def test_deleting_a_point_or_device_drops_its_cached_value(store: Store, clock: FakeClock) -> None:
    refs = await add_device(store)
    await store.writes.record([Sample(ref, clock(), 1.0) for ref in refs], "api")
    assert store.cache.stats().total_points == 4
    await store.points.delete(refs[0])
    assert store.cache.stats().total_points == 3
    await store.devices.delete(refs[0].device_id)
    assert store.cache.stats().total_points == 0
    assert await store.db.fetch_all("SELECT * FROM realtime_data_cache") == []
