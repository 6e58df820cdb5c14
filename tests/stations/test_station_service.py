"""Stations and readings through the station service, the one write path and the read path (real SQLite)."""

from __future__ import annotations

import pytest

from t3000gql.domain.points import PointType
from t3000gql.domain.samples import Quality
from t3000gql.domain.stations import (
    CHANNEL_FIELDS,
    STATION_DEVICE_TYPE,
    STATION_ID_FIRST,
    ReadingInput,
    StationInput,
)
from t3000gql.errors import ConflictError, ValidationError
from t3000gql.ingest.readings import ReadingFilter, ReadingReader
from t3000gql.ingest.stations import StationService
from t3000gql.storage.partitions import partition_table
from t3000gql.storage.store import Store

T0 = 1_705_314_600_000  # 2024-01-15T10:30:00Z


def values(power: float = 1000.0, energy: float = 100.0) -> tuple[float | None, ...]:
    return (
        power,
        power + 1,
        power + 2,
        power + 3,
        power + 4,
        power + 5,
        energy,
        energy + 1,
        energy + 2,
        energy + 3,
    )


async def test_create_station_makes_device_and_channel_points(service: StationService, store: Store) -> None:
    station = await service.create_station(StationInput(name="TV-1", ip_address="10.0.0.5", scene="roof"))
    assert station.device_id == STATION_ID_FIRST
    assert station.channel_names[6:] == ("TV5", "MCOT", "PRD", "TPBS")
    device = await store.devices.require(station.device_id)
    assert (device.device_type, device.device_name, device.ip_address) == (STATION_DEVICE_TYPE, "TV-1", "10.0.0.5")
    points = await store.points.list_for_device(station.device_id)
    assert [(p.point_type, p.point_number, p.unit_symbol) for p in points] == [
        *((PointType.INPUT, n, "W") for n in range(1, 7)),
        *((PointType.VARIABLE, n, "KWH") for n in range(1, 5)),
    ]
    second = await service.create_station(StationInput(name="TV-2"))
    assert second.device_id == STATION_ID_FIRST + 1
    assert second.uuid != station.uuid


async def test_names_and_uuids_are_unique(service: StationService) -> None:
    await service.create_station(StationInput(name="TV-1", uuid="u-1"))
    with pytest.raises(ConflictError, match="already exists"):
        await service.create_station(StationInput(name="TV-1"))
    with pytest.raises(ConflictError, match="uuid 'u-1'"):
        await service.create_station(StationInput(name="TV-2", uuid="u-1"))
    with pytest.raises(ValidationError, match="device_id"):
        await service.create_station(StationInput(name="TV-3", device_id=17))


async def test_upsert_changes_fields_and_renames_channels(service: StationService) -> None:
    created = await service.upsert_station(StationInput(name="TV-1", scene="a"))
    changed = await service.upsert_station(
        StationInput(
            name="TV-1", scene="b", websocket_url="ws://127.0.0.1:1/x", channel_names={"muxPower1": "TV5 HD"}
        )
    )
    assert changed.device_id == created.device_id and changed.uuid == created.uuid
    assert (changed.scene, changed.websocket_url, changed.channel_names[6]) == (
        "b",
        "ws://127.0.0.1:1/x",
        "TV5 HD",
    )
    renamed = await service.upsert_station(StationInput(name="TV-One", device_id=created.device_id))
    assert renamed.name == "TV-One"
    assert await service.get_station(name="TV-1") is None
    with pytest.raises(ValidationError, match="unknown channel"):
        await service.upsert_station(StationInput(name="TV-One", channel_names={"voltage": "V"}))


async def test_record_stores_values_as_points_with_source(service: StationService, store: Store) -> None:
    station = await service.create_station(StationInput(name="TV-1"))
    outcome = await service.record(
        [ReadingInput(T0, values(), station="TV-1"), ReadingInput(T0 + 1000, values(1100, 101), station="TV-1")],
        "manual",
    )
    assert (outcome.count, outcome.imported, outcome.duplicates, outcome.flagged) == (2, 2, 0, [])
    ids = await store.points.resolve(station.refs)
    series = await store.history.read_range([ids[station.refs[0]]], T0, T0 + 2000)
    assert series[ids[station.refs[0]]].values == [1000.0, 1100.0]
    readings = await ReadingReader(store).readings(ReadingFilter(station_name="TV-1"))
    assert [(r.ts_ms, r.source, r.values) for r in readings] == [
        (T0, "manual", values()),
        (T0 + 1000, "manual", values(1100, 101)),
    ]


async def test_batch_is_all_or_nothing_and_errors_name_index_field_value(
    service: StationService, store: Store
) -> None:
    await service.create_station(StationInput(name="TV-1"))
    good = ReadingInput(T0, values(), station="TV-1")
    cases = [
        (ReadingInput(T0, values(power=float("nan")), station="TV-1"), "activePower1", "finite"),
        (ReadingInput(T0, values(power=-1), station="TV-1"), "activePower1", "between 0 and 10000000 W"),
        (ReadingInput(T0, values(energy=-5), station="TV-1"), "muxPower1", "kWh"),
        (ReadingInput(T0, values(), station="NOPE"), "station", "not a known station"),
        (ReadingInput(-1, values(), station="TV-1"), "timestamp", "1970"),
        (ReadingInput(T0, (None,) * 10, station="TV-1"), "values", "no channel value"),
    ]
    for bad, field, text in cases:
        with pytest.raises(ValidationError, match=text) as caught:
            await service.record([good, bad], "manual")
        assert (caught.value.index, caught.value.field) == (1, field)
    assert await ReadingReader(store).count(ReadingFilter()) == 0


async def test_counter_going_backwards_is_stored_uncertain_and_reported(
    service: StationService, store: Store
) -> None:
    station = await service.create_station(StationInput(name="TV-1"))
    await service.record([ReadingInput(T0, values(energy=500), station="TV-1")], "manual")
    outcome = await service.record(
        [
            ReadingInput(T0 + 1000, values(energy=510), station="TV-1"),
            ReadingInput(T0 + 2000, (None, None, None, None, None, None, 20.0, None, None, None), station="TV-1"),
        ],
        "manual",
    )
    assert [(f.index, f.field, f.value, f.previous) for f in outcome.flagged] == [(1, "muxPower1", 20.0, 510.0)]
    reading = (await ReadingReader(store).readings(ReadingFilter(station_name="TV-1", descending=True, limit=1)))[
        0
    ]
    assert reading.flagged_channels == ["muxPower1"]
    table = partition_table(2024)
    ids = await store.points.resolve(station.refs)
    row = await store.db.fetch_one(
        f"SELECT quality FROM {table} WHERE point_id = ? AND ts = ?", (ids[station.refs[6]], T0 + 2000)
    )
    assert row == (int(Quality.UNCERTAIN),)


async def test_a_batch_of_whole_readings_flags_exactly_the_counters_that_went_backwards(
    service: StationService, store: Store
) -> None:
    """Readings with every channel (an import's) take a faster way to their samples: the same flags and the
    same quality per value as readings with gaps."""
    one = await service.create_station(StationInput(name="TV-1"))
    await service.create_station(StationInput(name="TV-2"))
    batch = [
        ReadingInput(T0, values(energy=500), station="TV-1"),
        ReadingInput(T0, values(energy=10), station="TV-2"),
        ReadingInput(T0 + 1000, (*values(energy=510)[:7], 499.0, 512.0, 513.0), station="TV-1"),  # muxPower2
        ReadingInput(T0 + 1000, values(energy=11), station="TV-2"),
        ReadingInput(T0 + 2000, values(energy=400), station="TV-1"),  # every counter lower
    ]
    outcome = await service.record(batch, "import")
    assert [(f.index, f.station, f.field, f.value, f.previous) for f in outcome.flagged] == [
        (2, "TV-1", "muxPower2", 499.0, 501.0),
        (4, "TV-1", "muxPower1", 400.0, 510.0),
        (4, "TV-1", "muxPower2", 401.0, 499.0),
        (4, "TV-1", "muxPower3", 402.0, 512.0),
        (4, "TV-1", "muxPower4", 403.0, 513.0),
    ]
    assert (outcome.imported, outcome.duplicates) == (5, 0)
    ids = await store.points.resolve(one.refs)
    rows = await store.db.fetch_all(
        f"SELECT point_id, ts, quality FROM {partition_table(2024)} WHERE point_id IN ({','.join('?' * 10)})",
        [ids[ref] for ref in one.refs],
    )
    uncertain = {
        (ids[one.refs[pos]], ts)
        for pos, ts in [(7, T0 + 1000), (6, T0 + 2000), (7, T0 + 2000), (8, T0 + 2000), (9, T0 + 2000)]
    }
    assert len(rows) == 30
    assert {(pid, ts) for pid, ts, quality in rows if quality == int(Quality.UNCERTAIN)} == uncertain
    latest = await ReadingReader(store).readings(ReadingFilter(station_name="TV-1", descending=True, limit=2))
    assert [r.flagged_channels for r in latest] == [list(CHANNEL_FIELDS[6:]), ["muxPower2"]]


async def test_rewriting_the_same_readings_is_a_duplicate_and_keeps_created_at(
    service: StationService, store: Store
) -> None:
    await service.create_station(StationInput(name="TV-1"))
    batch = [ReadingInput(T0 + i * 1000, values(1000 + i), station="TV-1") for i in range(3)]
    first = await service.record(batch, "websocket")
    before = await ReadingReader(store).readings(ReadingFilter())
    again = await service.record([*batch, batch[0]], "log_migration")
    assert (first.imported, again.imported, again.duplicates) == (3, 0, 4)
    after = await ReadingReader(store).readings(ReadingFilter())
    assert [(r.created_at, r.source) for r in after] == [(r.created_at, r.source) for r in before]
    changed = await service.record([ReadingInput(T0, values(2000), station="TV-1")], "manual")
    assert changed.imported == 1
    assert (await ReadingReader(store).readings(ReadingFilter(limit=1)))[0].source == "manual"


async def test_reading_queries_filter_order_page_latest(service: StationService, store: Store) -> None:
    a = await service.create_station(StationInput(name="A"))
    b = await service.create_station(StationInput(name="B"))
    await service.record([ReadingInput(T0 + i * 1000, values(1000 + i), station="A") for i in range(5)], "manual")
    await service.record([ReadingInput(T0 + 500, values(7), station_id=b.device_id)], "websocket")
    reader = ReadingReader(store)
    page = await reader.readings(ReadingFilter(station_id=a.device_id, start_ms=T0 + 1000, end_ms=T0 + 4000))
    assert [r.ts_ms for r in page] == [T0 + 1000, T0 + 2000, T0 + 3000]
    newest_two = await reader.readings(ReadingFilter(station_name="A", descending=True, limit=2, offset=1))
    assert [r.ts_ms for r in newest_two] == [T0 + 3000, T0 + 2000]
    everyone = await reader.readings(ReadingFilter())
    assert [(r.station.name, r.ts_ms) for r in everyone][:2] == [("A", T0), ("B", T0 + 500)]
    by_created = await reader.readings(ReadingFilter(order_by="created_at", descending=True, limit=1))
    assert by_created[0].station.name == "B"
    assert await reader.count(ReadingFilter(station_name="A")) == 5
    assert await reader.readings(ReadingFilter(station_name="nobody")) == []
    latest = await reader.latest([a, b])
    assert (latest[a.device_id].ts_ms, latest[b.device_id].values[0]) == (T0 + 4000, 7.0)
    with pytest.raises(ValidationError, match="order_by"):
        await reader.readings(ReadingFilter(order_by="value"))


async def test_series_and_aggregates_come_from_history(service: StationService, store: Store) -> None:
    station = await service.create_station(StationInput(name="A"))
    await service.record(
        [ReadingInput(T0 + i * 1000, values(1000 + i, 100 + i), station="A") for i in range(10)], "manual"
    )
    reader = ReadingReader(store)
    series = await reader.series(station, T0, T0 + 10_000)
    assert list(series) == list(CHANNEL_FIELDS)
    assert series["activePower1"].values == [1000.0 + i for i in range(10)]
    buckets = await reader.aggregate(station, T0, T0 + 10_000, 5)
    assert buckets.bucket_starts == [T0, T0 + 5000]
    power = buckets.channels["activePower1"]
    assert (power.avg, power.min, power.max, power.count) == (
        [1002.0, 1007.0],
        [1000.0, 1005.0],
        [1004.0, 1009.0],
        [5, 5],
    )


async def test_retention_and_delete_remove_readings(service: StationService, store: Store) -> None:
    station = await service.create_station(StationInput(name="A"))
    await service.record([ReadingInput(T0, values(), station="A")], "manual")
    assert await service.delete_station(station.device_id)
    assert await store.db.fetch_one("SELECT count(*) FROM power_readings") == (0,)
    assert await service.get_station(name="A") is None
