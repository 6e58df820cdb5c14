"""Collection through /graphql: collectNow, refreshPoint, writePointValue, `current` with the hardware fallback,
and trend-log mutations rescheduling the collector. The T3 simulator runs on the app's own event loop (the
TestClient's portal), so the app reaches it over a real socket on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from t3000gql.collect.simulators.t3_modbus import T3ModbusSimulator
from t3000gql.config import Settings
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from tests.api.conftest import NOW, GraphQLClient, open_client

DEVICE = 7001
POINTS = (
    [("INPUT", n) for n in range(1, 7)]
    + [("OUTPUT", n) for n in range(1, 5)]
    + [("VARIABLE", n) for n in (1, 2, 3, 4)]
)


class Site:
    def __init__(self, client: GraphQLClient, sim: T3ModbusSimulator) -> None:
        self.client = client
        self.sim = sim

    def run(self, func: Any, *args: Any) -> Any:
        return self.client.run(func, *args)

    def serve(self, point_type: PointType, number: int, value: float) -> None:
        self.run(self.sim.set_value, 1, point_type, number, value)

    def store_old_value(self, point_type: PointType, number: int, value: float, age_ms: int = 120_000) -> None:
        sample = Sample(PointRef(DEVICE, point_type, number), NOW - age_ms, value)
        self.run(self.client.services.store.writes.record, [sample], "manual")


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    # 300 ms per request and one retry: a hung device costs about 0.6 s, and a reader waits 0.3 s at most.
    fast = replace(settings, t3000_interface_timeout_ms=300, t3000_max_retries=1)
    with open_client(fast) as client:
        sim = T3ModbusSimulator(units=[1], update_interval=None)
        client.run(sim.start)
        try:
            points = ", ".join(f'{{pointType: {t}, pointNumber: {n}, pointName: "{t} {n}"}}' for t, n in POINTS)
            client.data(
                f"""mutation {{
                  upsertDevice(input: {{deviceId: {DEVICE}, deviceName: "T3 sim", deviceType: "T3-BB",
                    protocol: MODBUS, ipAddress: "127.0.0.1", port: {sim.port}, modbusUnitId: 1}}) {{ deviceId }}
                  upsertMonitoringPoints(deviceId: {DEVICE}, points: [{points}]) {{ inserted }}
                }}"""
            )
            yield Site(client, sim)
        finally:
            client.run(sim.stop)


def add_trend_log(client: GraphQLClient, interval: int = 60) -> int:
    points = ", ".join(f"{{pointType: {t}, pointNumber: {n}}}" for t, n in POINTS)
    data = client.data(
        f"""mutation {{ upsertTrendLog(deviceId: {DEVICE}, input: {{trendLogName: "all", intervalSeconds: {interval},
            points: [{points}]}}) {{ trendLogId }} }}"""
    )
    return int(data["upsertTrendLog"]["trendLogId"])


CURRENT = (
    "{ point(deviceId: " + str(DEVICE) + ", pointType: %s, pointNumber: %d) { current { value stale source } } }"
)


def test_collect_now_reads_the_trend_log_from_the_device_and_stores_it(site: Site) -> None:
    client = site.client
    site.serve(PointType.INPUT, 1, 21.5)
    site.serve(PointType.VARIABLE, 4, -3.25)
    log_id = add_trend_log(client)
    run = client.data(
        f"mutation {{ collectNow(trendLogId: {log_id}) {{ trendLogId deviceId timestamp samples }} }}"
    )
    assert run["collectNow"] == {
        "trendLogId": log_id,
        "deviceId": DEVICE,
        "timestamp": "2025-01-02T00:00:30.000+00:00",
        "samples": 14,
    }
    assert client.data(CURRENT % ("INPUT", 1))["point"]["current"] == {
        "value": 21.5,
        "stale": False,
        "source": "COLLECTOR",
    }
    series = client.data(
        f'{{ point(deviceId: {DEVICE}, pointType: VARIABLE, pointNumber: 4) {{ history(start: "2025-01-02T00:00:00Z", '
        'end: "2025-01-03T00:00:00Z") { columns { values } } } }'
    )
    assert series["point"]["history"]["columns"]["values"] == [-3.25]
    assert client.data(f"{{ trendLog(trendLogId: {log_id}) {{ lastCollected }} }}")["trendLog"]["lastCollected"]


def test_collect_now_of_an_unknown_trend_log_is_not_found(site: Site) -> None:
    assert site.client.error("mutation { collectNow(trendLogId: 424242) { samples } }")["extensions"] == {
        "code": "NOT_FOUND"
    }


def test_a_stale_current_value_is_read_from_the_device(site: Site) -> None:
    site.store_old_value(PointType.INPUT, 2, 1.0)
    site.serve(PointType.INPUT, 2, 42.125)
    requests = site.sim.request_count
    assert site.client.data(CURRENT % ("INPUT", 2))["point"]["current"] == {
        "value": 42.125,
        "stale": False,
        "source": "ON_DEMAND",
    }
    assert site.sim.request_count == requests + 1
    site.client.data(CURRENT % ("INPUT", 2))  # fresh now: from the cache
    assert site.sim.request_count == requests + 1


def test_a_device_that_does_not_answer_gives_the_stale_value_with_its_refresh_error(site: Site) -> None:
    site.store_old_value(PointType.INPUT, 3, 7.5)
    site.sim.pause()
    body = site.client.post(
        f"{{ point(deviceId: {DEVICE}, pointType: INPUT, pointNumber: 3) {{ current {{ value stale source "
        "refreshError { code message } } } }"
    )
    assert "errors" not in body  # the data is whole: Apollo's and urql's default error policies keep it
    current = body["data"]["point"]["current"]
    assert (current["value"], current["stale"], current["source"]) == (7.5, True, "MANUAL")
    assert current["refreshError"]["code"] == "DEVICE_TIMEOUT"
    assert f"device {DEVICE} did not answer within 0.3 s" in current["refreshError"]["message"]
    # a point never read has nothing to serve: null and the error
    body = site.client.post(CURRENT % ("INPUT", 4))
    assert body["data"]["point"]["current"] is None
    assert body["errors"][0]["extensions"]["code"] == "DEVICE_TIMEOUT"
    site.sim.resume()


def test_device_data_refreshes_stale_values_in_one_device_read(site: Site) -> None:
    for number in (1, 2, 3):
        site.store_old_value(PointType.OUTPUT, number, 0.0)
        site.serve(PointType.OUTPUT, number, number * 10.0)
    reads = site.client.services.collection.reader.device_reads
    requests = site.sim.requests[3]
    data = site.client.data(
        f"{{ device(deviceId: {DEVICE}) {{ data {{ points {{ pointType pointNumber value stale }} "
        "cacheStats { totalPoints stalePoints } } } }"
    )["device"]["data"]
    # every point was stale or unknown: all 14 read in one driver call (one request per register block)
    assert len(data["points"]) == 14 and not any(p["stale"] for p in data["points"])
    outputs = [p for p in data["points"] if p["pointType"] == "OUTPUT" and p["pointNumber"] <= 3]
    assert [p["value"] for p in outputs] == [10.0, 20.0, 30.0]
    assert data["cacheStats"] == {"totalPoints": 14, "stalePoints": 0}
    assert site.client.services.collection.reader.device_reads == reads + 1
    assert site.sim.requests[3] == requests + 3  # outputs, inputs, variables


def test_refresh_point_reads_the_device_now(site: Site) -> None:
    site.serve(PointType.VARIABLE, 2, 19.5)
    data = site.client.data(
        f"mutation {{ refreshPoint(deviceId: {DEVICE}, pointType: VARIABLE, pointNumber: 2) "
        "{ pointNumber value stale source } }"
    )
    assert data["refreshPoint"] == {"pointNumber": 2, "value": 19.5, "stale": False, "source": "ON_DEMAND"}


def test_write_point_value_writes_the_device_and_audits(site: Site) -> None:
    site.store_old_value(PointType.OUTPUT, 4, 12.0)
    data = site.client.data(
        f"mutation {{ writePointValue(deviceId: {DEVICE}, pointType: OUTPUT, pointNumber: 4, value: 66.5) "
        "{ value stale source } }"
    )
    assert data["writePointValue"] == {"value": 66.5, "stale": False, "source": "API_WRITE"}
    assert site.run(site.sim.value, 1, PointType.OUTPUT, 4) == 66.5
    entries = site.run(site.client.services.store.audit.recent)
    [entry] = [entry for entry in entries if entry.operation == "write_point_value"]
    assert (entry.outcome, entry.old_value, entry.new_value) == ("done", 12.0, 66.5)


def test_a_refused_write_is_a_device_error(site: Site) -> None:
    site.client.data(
        f"mutation {{ upsertDevice(input: {{deviceId: {DEVICE}, modbusUnitId: 9}}) {{ deviceId }} }}"
    )  # the simulator has no unit 9: it answers exception 4
    error = site.client.error(
        f"mutation {{ writePointValue(deviceId: {DEVICE}, pointType: OUTPUT, pointNumber: 1, value: 1) {{ value }} }}"
    )
    assert error["extensions"] == {"code": "DEVICE_ERROR", "deviceWrite": "REFUSED"}
    assert "Modbus exception 4" in error["message"]


def test_trend_log_mutations_reschedule_the_collector(site: Site) -> None:
    client = site.client
    scheduler = client.services.collection.collector.scheduler
    log_id = add_trend_log(client, interval=30)
    assert scheduler.intervals() == {log_id: 30}
    client.data(
        f"mutation {{ upsertTrendLog(deviceId: {DEVICE}, input: {{trendLogId: {log_id}, intervalSeconds: 5}}) {{ trendLogId }} }}"
    )
    assert scheduler.intervals() == {log_id: 5}
    client.data(
        f"mutation {{ upsertTrendLog(deviceId: {DEVICE}, input: {{trendLogId: {log_id}, isActive: false}}) {{ trendLogId }} }}"
    )
    assert scheduler.intervals() == {}
    client.data(
        f"mutation {{ upsertTrendLog(deviceId: {DEVICE}, input: {{trendLogId: {log_id}, isActive: true}}) {{ trendLogId }} }}"
    )
    client.data(f"mutation {{ upsertDevice(input: {{deviceId: {DEVICE}, isActive: false}}) {{ deviceId }} }}")
    assert scheduler.intervals() == {}
    client.data(f"mutation {{ upsertDevice(input: {{deviceId: {DEVICE}, isActive: true}}) {{ deviceId }} }}")
    assert scheduler.intervals() == {log_id: 5}
    client.data(f"mutation {{ deleteTrendLog(trendLogId: {log_id}) }}")
    assert scheduler.intervals() == {}
    other = add_trend_log(client, interval=60)
    client.data(f"mutation {{ deleteDevice(deviceId: {DEVICE}) }}")
    assert other not in scheduler.intervals()


def test_health_reports_collection(site: Site) -> None:
    add_trend_log(site.client)
    health = site.client.http.get("/health").json()
    assert health["collection"]["scheduledTrendLogs"] == 1
    assert health["collection"]["scheduling"] is True
