"""`serve --demo`: the demo site on the in-process T3 simulator, collected through the real Modbus driver."""

from __future__ import annotations

from t3000gql.collect.demo import CONTROLLERS, demo_points
from t3000gql.collect.drivers.simulated import input_kind
from t3000gql.config import Settings
from t3000gql.domain.points import PointRef, PointType
from t3000gql.services import Services
from tests.collect.helpers import Recorder, runs


async def test_demo_collects_live_data_and_a_second_run_reuses_the_database(database_url: str) -> None:
    settings = Settings.defaults(database_url=database_url, database_pool_size=2)
    ports = []
    for round in range(2):
        services = await Services.start(settings, demo=True)
        try:
            store = services.store
            demo = services.collection.demo
            assert demo is not None and demo.simulator is not None
            ports.append(demo.simulator.port)
            # every trend log was sampled once at start, before its first boundary
            assert all(log.last_collected for log in await store.trend_logs.list())
            if round == 0:  # then the schedule takes over
                recorder = Recorder()
                services.collection.collector.add_listener(recorder)
                await recorder.wait_for(lambda events: len(runs(events, "succeeded")) >= 1)
            devices = await store.devices.list()
            assert [d.device_id for d in devices] == [c.device_id for c in CONTROLLERS]
            assert {d.port for d in devices} == {demo.simulator.port}
            logs = await store.trend_logs.list()
            assert len(logs) == 3 * len(CONTROLLERS)
            assert {log.interval_seconds for log in logs} == {5, 15, 60}
            health = await services.health()
            assert health["collection"]["scheduledTrendLogs"] == len(logs)
            assert health["collection"]["lastHour"]["failures"] == 0
        finally:
            await services.stop()
    assert len(set(ports)) == 2


async def test_demo_inputs_are_named_and_given_units_after_what_they_measure() -> None:
    controller = CONTROLLERS[0]
    units = {"temperature": 1, "humidity": 23, "co2": 24, "pressure": 4}
    for point in demo_points(controller):
        if point.point_type == PointType.INPUT:
            kind = input_kind(0, PointRef(controller.unit_id, PointType.INPUT, point.point_number))
            assert point.unit_code == units[kind]
        assert point.point_name


async def test_background_collection_can_be_switched_off(database_url: str) -> None:
    settings = Settings.defaults(database_url=database_url, background_collection_enabled=False)
    services = await Services.start(settings, demo=True)
    try:
        assert not services.collection.collector.scheduler.running
        logs = await services.store.trend_logs.list()
        result = await services.collection.collect_now(logs[0].id)  # collectNow still works
        assert result.samples == len(logs[0].point_ids)
    finally:
        await services.stop()
