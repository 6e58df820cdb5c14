"""What the storage interface promises on both databases when more than one store (process) writes, and what a
delete takes with it, across yearly partitions."""

from __future__ import annotations

import asyncio

from t3000gql.config import Settings
from t3000gql.domain.samples import Sample
from t3000gql.domain.timeutil import year_start_ms
from t3000gql.storage.store import Store
from tests.conftest import FakeClock

from .helpers import add_device, point_id


async def test_two_stores_that_need_the_same_new_year_at_once_both_write(
    settings: Settings, clock: FakeClock
) -> None:
    """Two processes' first writes into a year nobody wrote yet: one creates the year, the other waits for it
    (SQLite's write lock; PostgreSQL's advisory lock), and neither fails."""
    first = await Store.open(settings, clock=clock)
    second = await Store.open(settings, clock=clock)
    try:
        refs = await add_device(first)
        new_year = year_start_ms(2031)
        written = await asyncio.gather(
            *(
                store.writes.record([Sample(ref, new_year + n, float(n)) for n in range(100)], "api")
                for store, ref in ((first, refs[0]), (second, refs[1]))
            )
        )
        assert [result.inserted for result in written] == [100, 100]
        assert 2031 in first.partitions.years and 2031 in second.partitions.years
        pids = [await point_id(first, ref) for ref in refs[:2]]
        series = await first.history.read_range(pids, new_year, new_year + 1000)
        assert [len(series[pid].values) for pid in pids] == [100, 100]
    finally:
        await second.close()
        await first.close()


async def test_deleting_a_point_deletes_its_history_in_every_year_and_nothing_else(
    store: Store, clock: FakeClock
) -> None:
    gone, kept = (await add_device(store))[:2]
    stamps = [year_start_ms(2024) + 5, year_start_ms(2025) + 5, year_start_ms(2026) + 5]
    await store.writes.record([Sample(ref, ts, 1.0) for ref in (gone, kept) for ts in stamps], "api")
    kept_id, gone_id = await point_id(store, kept), await point_id(store, gone)
    assert await store.points.delete(gone) == gone_id
    counts = await store.history.count([gone_id, kept_id], 0, year_start_ms(2027))
    assert counts == {gone_id: 0, kept_id: 3}
    for year in (2024, 2025, 2026):
        rows = await store.db.fetch_all(
            f"SELECT count(*) FROM timeseries_data_{year} WHERE point_id = ?", (gone_id,)
        )
        assert rows[0][0] == 0
