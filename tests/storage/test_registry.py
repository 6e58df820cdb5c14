from __future__ import annotations

import pytest

from t3000gql.domain.inputs import DeviceInput, PointInput, TrendLogInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.errors import ConflictError, NotFoundError, ValidationError
from t3000gql.storage.store import Store
from tests.conftest import FakeClock

from .helpers import DEVICE, add_device


async def test_devices_create_update_upsert_list_get_delete(store: Store) -> None:
    created = await store.devices.create(
        DeviceInput(DEVICE, device_name="AHU-1", device_type="T3-BB", ip_address="127.0.0.1", port=502)
    )
    assert (created.protocol, created.is_active, created.online) == ("none", True, None)
    with pytest.raises(ConflictError):
        await store.devices.create(DeviceInput(DEVICE, device_name="again", device_type="T3-BB"))
    updated = await store.devices.update(DeviceInput(DEVICE, device_name="AHU-1 roof", protocol="modbus"))
    assert (updated.device_name, updated.port, updated.protocol) == ("AHU-1 roof", 502, "modbus")
    await store.devices.upsert(
        DeviceInput(2002, device_name="Meter", device_type="power_station", is_active=False)
    )
    assert [d.device_id for d in await store.devices.list()] == [DEVICE, 2002]
    assert [d.device_id for d in await store.devices.list(is_active=True)] == [DEVICE]
    assert [d.device_id for d in await store.devices.list(device_type="power_station")] == [2002]
    with pytest.raises(NotFoundError):
        await store.devices.update(DeviceInput(3003, device_name="x"))
    assert await store.devices.delete(2002) is True
    assert await store.devices.delete(2002) is False
    assert await store.devices.get(2002) is None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (DeviceInput(-1, device_name="a", device_type="b"), "device_id"),
        (DeviceInput(1, device_name="", device_type="b"), "device_name"),
        (DeviceInput(1, device_name="a", device_type="b", port=70000), "port"),
        (DeviceInput(1, device_name="a", device_type="b", protocol="carrier-pigeon"), "protocol"),
        (DeviceInput(1, device_name="a", device_type="b", ip_address="not an address!"), "ip_address"),
        (DeviceInput(1, device_name="a"), "device_type"),
    ],
)
async def test_bad_device_input_names_the_field_and_writes_nothing(
    store: Store, data: DeviceInput, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await store.devices.upsert(data)
    assert caught.value.field == field
    assert await store.devices.list() == []


async def test_points_upsert_all_or_nothing(store: Store) -> None:
    await add_device(store, points=2)
    with pytest.raises(ValidationError) as caught:
        await store.points.upsert(
            DEVICE, [PointInput(PointType.OUTPUT, 1), PointInput(PointType.OUTPUT, 0, point_name="bad")]
        )
    assert (caught.value.index, caught.value.field) == (1, "point_number")
    assert len(await store.points.list_for_device(DEVICE)) == 2
    points, inserted, updated = await store.points.upsert(
        DEVICE,
        [PointInput(PointType.INPUT, 1, point_name="Supply air", unit_code=2), PointInput(PointType.VARIABLE, 5)],
    )
    assert (inserted, updated) == (1, 1)
    assert (points[0].point_name, points[0].unit_symbol) == ("Supply air", "degF")
    with pytest.raises(NotFoundError):
        await store.points.upsert(4242, [PointInput(PointType.INPUT, 1)])


async def test_trend_logs_keep_their_points_in_slot_order(store: Store) -> None:
    refs = await add_device(store, points=4)
    log = await store.trend_logs.upsert(
        DEVICE, TrendLogInput(trend_log_name="AHU", interval_seconds=60, points=(refs[2], refs[0]))
    )
    ids = await store.points.resolve(refs)
    assert log.point_ids == (ids[refs[2]], ids[refs[0]])
    assert log.interval_seconds == 60 and log.is_active
    changed = await store.trend_logs.upsert(DEVICE, TrendLogInput(id=log.id, is_active=False, points=(refs[3],)))
    assert (changed.trend_log_name, changed.is_active, changed.point_ids) == ("AHU", False, (ids[refs[3]],))
    with pytest.raises(ValidationError) as caught:
        await store.trend_logs.upsert(
            DEVICE, TrendLogInput(trend_log_name="x", points=(refs[0], PointRef(DEVICE, PointType.OUTPUT, 9)))
        )
    assert (caught.value.field, caught.value.index) == ("points", 1)
    default = await store.trend_logs.upsert(DEVICE, TrendLogInput(trend_log_name="default"))
    assert default.interval_seconds == 900  # DEFAULT_TREND_INTERVAL_SECONDS
    assert await store.trend_logs.delete(log.id)
    assert [t.id for t in await store.trend_logs.list(DEVICE)] == [default.id]


async def test_deleting_a_device_removes_points_trend_logs_cache_and_history(
    store: Store, clock: FakeClock
) -> None:
    refs = await add_device(store)
    await add_device(store, device_id=2002)
    await store.trend_logs.upsert(DEVICE, TrendLogInput(trend_log_name="all", points=tuple(refs)))
    await store.writes.record([Sample(ref, clock() - i, float(i)) for i, ref in enumerate(refs)], "api")
    await store.devices.delete(DEVICE)
    for table in ("monitoring_points", "trend_logs", "trend_log_points", "realtime_data_cache"):
        rows = await store.db.fetch_all(f"SELECT count(*) FROM {table}")
        assert rows[0][0] == (4 if table == "monitoring_points" else 0), table
    year_rows = await store.db.fetch_all(f"SELECT count(*) FROM timeseries_data_{store.partitions.years[0]}")
    assert year_rows == [(0,)]


async def test_device_status_reports_changes_only(store: Store) -> None:
    await add_device(store)
    assert await store.devices.set_status(DEVICE, online=True) is True
    assert await store.devices.set_status(DEVICE, online=True) is False
    assert await store.devices.set_status(DEVICE, online=False) is True
    device = await store.devices.require(DEVICE)
    assert device.online is False and device.last_seen is not None
