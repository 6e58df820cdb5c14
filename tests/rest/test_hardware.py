"""Current values read from a real T3 Modbus simulator on 127.0.0.1 (on the app's own event loop): a cache miss
is read from the device once, a device that does not answer gives 504 with the stale value, one that answers
with an error gives 502. The same reads GraphQL's `current` makes (tests/api/test_collection.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from t3000gql.collect.simulators.t3_modbus import T3ModbusSimulator
from t3000gql.config import Settings
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.rest.models import DataPoint, DeviceDataResponse
from tests.api.conftest import NOW, open_client
from tests.rest.conftest import RestClient

DEVICE = 7001
POINTS = [("INPUT", n) for n in (1, 2, 3, 4)] + [("OUTPUT", 1)]


class Site:
    def __init__(self, rest: RestClient, sim: T3ModbusSimulator) -> None:
        self.rest = rest
        self.sim = sim

    def run(self, func: Any, *args: Any) -> Any:
        return self.rest.graphql.run(func, *args)

    def serve(self, point_type: PointType, number: int, value: float) -> None:
        self.run(self.sim.set_value, 1, point_type, number, value)

    def store_old_value(self, point_type: PointType, number: int, value: float, age_ms: int = 120_000) -> None:
        sample = Sample(PointRef(DEVICE, point_type, number), NOW - age_ms, value)
        self.run(self.rest.services.store.writes.record, [sample], "test")


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    # 300 ms per request and one retry: a reader waits 0.3 s at most for a device that does not answer.
    fast = replace(settings, t3000_interface_timeout_ms=300, t3000_max_retries=1)
    with open_client(fast) as client:
        sim = T3ModbusSimulator(units=[1], update_interval=None)
        client.run(sim.start)
        try:
            points = ", ".join(f"{{pointType: {t}, pointNumber: {n}}}" for t, n in POINTS)
            client.data(
                f"""mutation {{
                  upsertDevice(input: {{deviceId: {DEVICE}, deviceName: "T3 sim", deviceType: "T3-BB",
                    protocol: MODBUS, ipAddress: "127.0.0.1", port: {sim.port}, modbusUnitId: 1}}) {{ deviceId }}
                  upsertMonitoringPoints(deviceId: {DEVICE}, points: [{points}]) {{ inserted }}
                }}"""
            )
            yield Site(RestClient(client), sim)
        finally:
            client.run(sim.stop)


def test_a_stale_point_is_read_from_the_device_once(site: Site) -> None:
    site.store_old_value(PointType.INPUT, 1, 1.0)
    site.serve(PointType.INPUT, 1, 42.125)
    requests = site.sim.request_count
    answer = site.rest.get(f"/api/device/{DEVICE}/point/INPUT/1", DataPoint)
    assert answer.body["source"] == "t3000"
    assert (answer.data["value"], answer.data["is_fresh"], answer.data["source"]) == (42.125, 1, "on-demand")
    assert answer.data["timestamp"] == NOW // 1000
    assert site.sim.request_count == requests + 1
    again = site.rest.get(f"/api/device/{DEVICE}/point/1/1", DataPoint)  # fresh now: from the cache
    assert (again.body["source"], again.data["value"]) == ("cache", 42.125)
    assert site.sim.request_count == requests + 1


def test_a_device_that_does_not_answer_gives_504_with_the_stale_value(site: Site) -> None:
    site.store_old_value(PointType.INPUT, 2, 7.5)
    site.sim.pause()
    try:
        answer = site.rest.get(f"/api/device/{DEVICE}/point/INPUT/2", stale=DataPoint)
        assert answer.status == 504
        assert (answer.body["code"], answer.body["success"], answer.body["source"]) == (
            "DEVICE_TIMEOUT",
            False,
            "cache",
        )
        assert f"device {DEVICE} did not answer within 0.3 s" in answer.body["error"]
        assert (answer.data["value"], answer.data["is_fresh"], answer.data["source"]) == (7.5, 0, "test")
        # a point never read has nothing to serve: 504 and no data
        never = site.rest.get(f"/api/device/{DEVICE}/point/INPUT/3", stale=DataPoint)
        assert (never.status, never.body["code"], never.data) == (504, "DEVICE_TIMEOUT", None)
    finally:
        site.sim.resume()


def test_device_data_of_a_device_that_does_not_answer_is_504_with_what_the_cache_has(site: Site) -> None:
    site.store_old_value(PointType.INPUT, 4, 3.25)
    site.sim.pause()
    try:
        answer = site.rest.get(f"/api/device/{DEVICE}/data", stale=DeviceDataResponse)
    finally:
        site.sim.resume()
    assert (answer.status, answer.body["code"]) == (504, "DEVICE_TIMEOUT")
    [point] = answer.data["points"]
    assert (point["point_type"], point["point_number"], point["value"], point["is_fresh"]) == (1, 4, 3.25, 0)
    assert answer.data["cache_stats"]["stale_points"] == 1


def test_device_data_reads_every_stale_point_in_one_device_read(site: Site) -> None:
    for number, value in ((1, 11.0), (2, 12.0), (3, 13.0), (4, 14.0)):
        site.serve(PointType.INPUT, number, value)
    reads = site.rest.services.collection.reader.device_reads
    answer = site.rest.get(f"/api/device/{DEVICE}/data", DeviceDataResponse)
    assert answer.body["source"] == "t3000"
    assert [(p["point_type"], p["point_number"], p["value"]) for p in answer.data["points"]][1:] == [
        (1, 1, 11.0),
        (1, 2, 12.0),
        (1, 3, 13.0),
        (1, 4, 14.0),
    ]
    assert site.rest.services.collection.reader.device_reads == reads + 1


def test_a_device_that_answers_with_an_error_gives_502(site: Site) -> None:
    site.store_old_value(PointType.OUTPUT, 1, 1.0)
    site.rest.graphql.data(
        f"mutation {{ upsertDevice(input: {{deviceId: {DEVICE}, modbusUnitId: 9}}) {{ deviceId }} }}"
    )  # the simulator has no unit 9: it answers Modbus exception 4
    answer = site.rest.get(f"/api/device/{DEVICE}/point/OUTPUT/1", stale=DataPoint)
    assert (answer.status, answer.body["code"]) == (502, "DEVICE_ERROR")
    assert (answer.data["value"], answer.data["is_fresh"]) == (1.0, 0)


def _until_offline(site: Site, path: str, timeout_s: float = 10.0) -> Any:
    """The first reader gives up after T3000_INTERFACE_TIMEOUT while the driver goes on retrying; the device is
    skipped once those retries end and their read has landed. Asks again until the answer says so (a bounded
    wait on a public condition, not a sleep); a request meanwhile joins the read still in flight."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = site.rest.get(path, stale=DataPoint)
        if answer.body["code"] == "DEVICE_OFFLINE":
            return answer
        time.sleep(0.05)
    raise AssertionError(f"device {DEVICE} was not skipped within {timeout_s} s")


def test_a_device_being_skipped_after_silence_gives_504_device_offline_with_the_stale_value(site: Site) -> None:
    site.store_old_value(PointType.INPUT, 2, 7.5)
    path = f"/api/device/{DEVICE}/point/INPUT/2"
    site.sim.pause()
    try:
        first = site.rest.get(path, stale=DataPoint)
        assert (first.status, first.body["code"]) == (504, "DEVICE_TIMEOUT")
        _until_offline(site, path)
        requests = site.sim.request_count
        again = site.rest.get(path, stale=DataPoint)
    finally:
        site.sim.resume()
    assert (again.status, again.body["code"], again.body["source"]) == (504, "DEVICE_OFFLINE", "cache")
    assert "tried again" in again.body["error"]
    assert (again.data["value"], again.data["is_fresh"]) == (7.5, 0)
    assert site.sim.request_count == requests  # nothing was sent while the device is skipped
