"""Yearly partitions made or dropped by another process (another server, `import-logs`, `retention`) are seen by
this one's reads: two stores on one SQLite file stand for two processes (each keeps its own partition set)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from t3000gql.config import Settings
from t3000gql.domain.samples import Sample
from t3000gql.storage.store import Store
from tests.conftest import FakeClock

from .helpers import add_device, point_id


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
async def other(settings: Settings, store: Store, clock: FakeClock) -> AsyncIterator[Store]:
    """A second store on the same file, opened after the first: it knows no partition yet."""
    opened = await Store.open(settings, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


async def test_history_written_across_years_by_one_process_is_read_whole_by_another(
    store: Store, other: Store
) -> None:
    ref = (await add_device(store))[0]
    pid = await point_id(store, ref)
    stamps = [ms(2025, 12, 31, 23, 59), ms(2026, 1, 1, 0, 1)]
    assert other.partitions.years == []
    await store.writes.record([Sample(ref, ts, float(i)) for i, ts in enumerate(stamps)], "api")
    read = (await other.history.read_range([pid], ms(2025, 12, 1), ms(2026, 2, 1)))[pid]
    assert read.timestamps == stamps
    assert (await other.history.count([pid], ms(2025, 1, 1), ms(2027, 1, 1))) == {pid: 2}
    assert other.partitions.years == [2025, 2026]


async def test_a_year_dropped_by_another_processs_retention_is_not_read(
    store: Store, other: Store, clock: FakeClock
) -> None:
    ref = (await add_device(store))[0]
    pid = await point_id(store, ref)
    stamps = [ms(2021, 6, 1), ms(2025, 7, 1)]
    await store.writes.record([Sample(ref, ts, 1.0) for ts in stamps], "api")
    assert (await other.history.read_range([pid], ms(2020, 1, 1), ms(2027, 1, 1)))[pid].timestamps == stamps
    assert other.partitions.years == [2021, 2025]
    clock.now_ms = ms(2026, 6, 1)
    report = await store.apply_retention()  # as `t3000gql retention` beside a server would
    assert report.dropped_years == [2021]
    left = (await other.history.read_range([pid], ms(2020, 1, 1), ms(2027, 1, 1)))[pid]
    assert left.timestamps == stamps[1:]
    assert other.partitions.years == [2025]


async def test_a_read_of_known_years_costs_no_statement_more(store: Store) -> None:
    ref = (await add_device(store))[0]
    pid = await point_id(store, ref)
    await store.writes.record([Sample(ref, ms(2025, 3, 1), 1.0)], "api")
    before = store.db.statements
    await store.history.read_range([pid], ms(2025, 1, 1), ms(2026, 1, 1))
    assert store.db.statements - before == 1  # the range itself
    # 2024 is not known: the schema version is asked (the first time the set reloads: this store's own write
    # made 2025 since the set was loaded), then the range.
    await store.history.read_range([pid], ms(2024, 1, 1), ms(2026, 1, 1))
    before, refreshes = store.db.statements, store.partitions.refreshes
    await store.history.read_range([pid], ms(2024, 1, 1), ms(2026, 1, 1))
    assert store.db.statements - before == 2  # the schema version (unchanged: no reload), then the range
    assert store.partitions.refreshes == refreshes
