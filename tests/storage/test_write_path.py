from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from t3000gql.domain.audit import Actor
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.errors import ValidationError
from t3000gql.storage.store import Store
from t3000gql.storage.write_path import Audit, WriteResult

from .helpers import DEVICE, add_device, point_id


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


async def count_rows(store: Store) -> int:
    total = 0
    for year in store.partitions.years:
        row = await store.db.fetch_one(f"SELECT count(*) FROM timeseries_data_{year}")
        assert row is not None
        total += row[0]
    return total


async def test_samples_across_new_year_land_in_two_partitions_and_read_as_one_series(store: Store) -> None:
    ref = (await add_device(store))[0]
    stamps = [ms(2024, 12, 31, 23, 58), ms(2024, 12, 31, 23, 59), ms(2025, 1, 1, 0, 0), ms(2025, 1, 1, 0, 1)]
    result = await store.writes.record([Sample(ref, ts, float(i)) for i, ts in enumerate(stamps)], "api")
    assert (result.inserted, result.updated, result.unchanged) == (4, 0, 0)
    assert store.partitions.years == [2024, 2025]
    for year in (2024, 2025):
        row = await store.db.fetch_one(f"SELECT count(*) FROM timeseries_data_{year}")
        assert row == (2,)
    pid = await point_id(store, ref)
    series = (await store.history.read_range([pid], ms(2024, 12, 1), ms(2025, 2, 1)))[pid]
    assert series.timestamps == stamps
    assert series.values == [0.0, 1.0, 2.0, 3.0]


async def test_reinserting_a_batch_changes_nothing(store: Store) -> None:
    refs = await add_device(store)
    batch = [Sample(refs[i % 4], ms(2025, 3, 1) + i * 1000, i / 3) for i in range(200)]
    first = await store.writes.record(batch, "api")
    assert first.inserted == 200
    again = await store.writes.record(batch, "api")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 200)
    assert await count_rows(store) == 200


async def test_a_changed_value_updates_the_row_instead_of_adding_one(store: Store) -> None:
    ref = (await add_device(store))[0]
    ts = ms(2025, 3, 1)
    await store.writes.record([Sample(ref, ts, 1.0), Sample(ref, ts + 1000, 2.0)], "api")
    result = await store.writes.record([Sample(ref, ts, 1.5), Sample(ref, ts + 1000, 2.0)], "api")
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 1)
    pid = await point_id(store, ref)
    series = (await store.history.read_range([pid], ts, ts + 2000))[pid]
    assert series.values == [1.5, 2.0]


async def test_the_last_of_a_repeated_point_and_time_in_one_batch_wins(store: Store) -> None:
    ref = (await add_device(store))[0]
    ts = ms(2025, 3, 1)
    result = await store.writes.record([Sample(ref, ts, 1.0), Sample(ref, ts, 7.0)], "api")
    assert (result.inserted, result.unchanged) == (1, 1)
    pid = await point_id(store, ref)
    assert (await store.history.read_range([pid], ts, ts + 1))[pid].values == [7.0]


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        (Sample(PointRef(DEVICE, PointType.INPUT, 1), 1_700_000_000_000, math.nan), "value", "finite"),
        (Sample(PointRef(DEVICE, PointType.INPUT, 1), 1_700_000_000_000, math.inf), "value", "finite"),
        (Sample(PointRef(DEVICE, PointType.INPUT, 1), -1, 1.0), "timestamp", "1970"),
        (Sample(PointRef(DEVICE, PointType.INPUT, 1), 4_102_444_800_000, 1.0), "timestamp", "2100"),
        (Sample(PointRef(DEVICE, PointType.INPUT, 99), 1_700_000_000_000, 1.0), "point", "not a known point"),
    ],
)
async def test_a_batch_with_one_bad_sample_writes_nothing_and_names_it(
    store: Store, bad: Sample, field: str, message: str
) -> None:
    refs = await add_device(store)
    good = [Sample(refs[0], 1_700_000_000_000 + i * 1000, float(i)) for i in range(1, 6)]
    batch = [*good[:3], bad, *good[3:]]
    with pytest.raises(ValidationError) as caught:
        await store.writes.record(batch, "api")
    assert caught.value.index == 3
    assert caught.value.field == field
    assert message in str(caught.value)
    assert "item 3" in str(caught.value)
    assert await count_rows(store) == 0
    assert store.cache.stats().total_points == 0


async def test_a_failing_transaction_leaves_no_partition_behind(store: Store) -> None:
    ref = (await add_device(store))[0]
    seen: list[WriteResult] = []
    store.writes.add_listener(seen.append)
    await store.db.disconnect()  # the write cannot start: nothing may be recorded as created
    with pytest.raises(Exception, match="not connected"):
        await store.writes.record([Sample(ref, ms(2031, 1, 1), 1.0)], "api")
    assert 2031 not in store.partitions.years
    assert seen == []
    await store.db.connect()


async def test_listeners_hear_only_committed_changes(store: Store) -> None:
    refs = await add_device(store)
    heard: list[WriteResult] = []
    store.writes.add_listener(heard.append)
    ts = ms(2025, 5, 1)
    await store.writes.record([Sample(refs[0], ts, 1.0), Sample(refs[1], ts, 2.0)], "collector")
    await store.writes.record([Sample(refs[0], ts, 1.0), Sample(refs[1], ts, 3.0)], "collector")
    with pytest.raises(ValidationError):
        await store.writes.record([Sample(refs[0], ts, math.nan)], "collector")
    assert [[(c.point, c.value) for c in r.changes] for r in heard] == [
        [(refs[0], 1.0), (refs[1], 2.0)],
        [(refs[1], 3.0)],
    ]
    assert all(c.source == "collector" for r in heard for c in r.changes)


async def test_the_cache_follows_the_newest_sample_per_point(store: Store) -> None:
    ref = (await add_device(store))[0]
    pid = await point_id(store, ref)
    ts = ms(2025, 5, 1)
    await store.writes.record([Sample(ref, ts + 5000, 5.0), Sample(ref, ts, 1.0)], "api")
    entry = store.cache.peek(pid)
    assert entry is not None and (entry.value, entry.ts_ms) == (5.0, ts + 5000)
    await store.writes.record([Sample(ref, ts - 60_000, -1.0)], "log_migration")  # a backfill
    entry = store.cache.peek(pid)
    assert entry is not None and entry.value == 5.0
    row = await store.db.fetch_one("SELECT value, ts FROM realtime_data_cache WHERE point_id = ?", (pid,))
    assert row == (5.0, ts + 5000)


async def test_audited_writes_record_old_and_new_values(store: Store) -> None:
    ref = (await add_device(store))[0]
    ts = ms(2025, 5, 1)
    await store.writes.record([Sample(ref, ts, 20.0)], "api", audit=Audit("updateDeviceData", Actor("alice")))
    await store.writes.record(
        [Sample(ref, ts + 1000, 21.5)], "api", audit=Audit("updateDeviceData", Actor("alice"))
    )
    entries = await store.audit.recent(device_id=DEVICE)
    assert [(e.operation, e.user_id, e.old_value, e.new_value, e.source) for e in entries] == [
        ("updateDeviceData", "alice", 20.0, 21.5, "api"),
        ("updateDeviceData", "alice", None, 20.0, "api"),
    ]


async def test_the_source_of_each_row_is_kept(store: Store) -> None:
    ref = (await add_device(store))[0]
    await store.writes.record([Sample(ref, ms(2025, 1, 2), 1.0)], "websocket")
    row = await store.db.fetch_one(
        "SELECT s.source FROM timeseries_data_2025 t JOIN data_sources s ON s.id = t.source_id"
    )
    assert row == ("websocket",)
