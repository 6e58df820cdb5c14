"""The collector is protocol-blind: a trend log of a BACnet device (BAC0 on its own UDP port on 127.0.0.1)
is collected the same way, analog and binary objects through readMultiple."""

from __future__ import annotations

from t3000gql.collect.service import Collection
from t3000gql.collect.simulators.bacnet import BacnetSimulator
from t3000gql.domain.inputs import DeviceInput, PointInput, TrendLogInput
from t3000gql.domain.points import PointRef, PointType

DEVICE = 6001


async def test_a_bacnet_trend_log_is_collected(collection: Collection) -> None:
    store = collection.store
    async with BacnetSimulator(device_id=DEVICE) as sim:
        served = {(PointType.INPUT, 1): 19.5, (PointType.OUTPUT, 2): 40.25, (PointType.VARIABLE, 3): 22.0}
        for (point_type, number), value in served.items():
            sim.set_value(point_type, number, value)
        sim.set_value(PointType.VARIABLE, 1, 1, digital=True)
        await store.devices.upsert(
            DeviceInput(
                DEVICE,
                device_name="BACnet",
                device_type="T3-BB",
                protocol="bacnet",
                ip_address=sim.host,
                port=sim.port,
                bacnet_instance=DEVICE,
            )
        )
        inputs = [PointInput(t, n) for t, n in served] + [PointInput(PointType.VARIABLE, 1, unit_code=101)]
        await store.points.upsert(DEVICE, inputs)
        refs = tuple(PointRef(DEVICE, p.point_type, p.point_number) for p in inputs)
        log = await store.trend_logs.upsert(
            DEVICE, TrendLogInput(trend_log_name="b", interval_seconds=1, points=refs)
        )

        result = await collection.collect_now(log.id)

        assert result.samples == 4
        ids = await store.points.resolve(refs)
        got = {ref: store.cache.peek(ids[ref]).value for ref in refs}  # type: ignore[union-attr]
        assert got == {
            **{PointRef(DEVICE, t, n): v for (t, n), v in served.items()},
            PointRef(DEVICE, PointType.VARIABLE, 1): 1.0,  # binary-value 1, digital by its unit (OFF/ON)
        }
        await collection.stop()  # closes the BACnet client application while the loop still runs
