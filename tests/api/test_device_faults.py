"""Device faults as a field engineer expects them, through /graphql against the project's Modbus and BACnet
simulators (real sockets on 127.0.0.1): a refused write or a point the device lacks never takes the device
offline, only silence does; a corrected device is asked again at once; a stale value carries its refreshError.

The app runs behind Starlette's TestClient with a fake clock the test moves; the simulators run on the app's
event loop (`client.run`), so the app reaches them over real sockets.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from t3000gql.app import create_app
from t3000gql.collect.drivers.bacnet import free_udp_port
from t3000gql.collect.simulators.bacnet import BacnetSimulator
from t3000gql.collect.simulators.t3_modbus import T3ModbusSimulator
from t3000gql.config import Settings
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from tests.api.conftest import BASE_URL, NOW, GraphQLClient
from tests.api.liveserver import serve_in_loop
from tests.api.wsclient import GraphQLSocket
from tests.conftest import FakeClock
from tests.live.helpers import wait_until

DEVICE = 7301
POINTS = [(PointType.INPUT, 1), (PointType.INPUT, 2), (PointType.INPUT, 3), (PointType.VARIABLE, 8)]
CURRENT = "{ point(deviceId: %d, pointType: %s, pointNumber: %d) { current { value stale source } } }"
REFUSED = {"modbus": "Modbus exception 2 (illegal data address)", "bacnet": "write-access-denied"}
LACKING = {"modbus": "Modbus exception 2 (illegal data address)", "bacnet": "object/unknown-object"}


@dataclass
class Site:
    """The app with one device on a simulator of `protocol`, its points INPUT 1..3 and VARIABLE 8."""

    client: GraphQLClient
    clock: FakeClock
    protocol: str
    sim: Any

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Runs a plain function on the app's event loop (where the simulator lives)."""

        async def run() -> Any:
            return func(*args)

        return self.client.run(run)

    def serve(self, point_type: PointType, number: int, value: float) -> None:
        if self.protocol == "modbus":
            self.client.run(self.sim.set_value, 1, point_type, number, value)
        else:
            self.call(self.sim.set_value, point_type, number, value)

    def lack(self, point_type: PointType, number: int) -> None:
        if self.protocol == "modbus":
            self.call(self.sim.remove_point, 1, point_type, number)
        else:
            self.call(self.sim.remove_object, point_type, number)

    def refuse_writes(self, point_type: PointType, number: int) -> None:
        if self.protocol == "modbus":
            self.call(self.sim.refuse_writes, 1, point_type, number)
        else:
            self.call(self.sim.refuse_writes, point_type, number)

    def store_old_value(self, point_type: PointType, number: int, value: float) -> None:
        sample = Sample(PointRef(DEVICE, point_type, number), self.clock() - 600_000, value)
        self.client.run(self.client.services.store.writes.record, [sample], "test")

    def current(self, point_type: PointType, number: int) -> dict[str, Any]:
        return self.client.post(CURRENT % (DEVICE, point_type.name, number))

    @property
    def device_reads(self) -> int:
        return int(self.client.services.collection.reader.device_reads)

    def online(self) -> bool | None:
        return self.client.data(f"{{ device(deviceId: {DEVICE}) {{ online }} }}")["device"]["online"]  # type: ignore[no-any-return]


def define_device(client: GraphQLClient, protocol: str, port: int, points: list[tuple[PointType, int]]) -> None:
    listed = ", ".join(f"{{pointType: {t.name}, pointNumber: {n}}}" for t, n in points)
    unit = "modbusUnitId: 1" if protocol == "modbus" else f"bacnetInstance: {DEVICE}"
    client.data(
        f"""mutation {{
          upsertDevice(input: {{deviceId: {DEVICE}, deviceName: "site", deviceType: "T3-BB", protocol: {protocol.upper()},
            ipAddress: "127.0.0.1", port: {port}, {unit}}}) {{ deviceId }}
          upsertMonitoringPoints(deviceId: {DEVICE}, points: [{listed}]) {{ inserted }}
        }}"""
    )


@contextlib.contextmanager
def open_site(settings: Settings, protocol: str, points: list[tuple[PointType, int]] = POINTS) -> Iterator[Site]:
    # Modbus: 1 s per request, one retry: a reader waits for a whole bulk read with its splits, which takes
    # milliseconds, even on a loaded machine. BACnet: our BAC0 application takes about a second to start on the
    # first read, which a reader must be able to wait for.
    # Background collection is off: its aiocron ticks on the wall clock would start runs whenever the test moves
    # the fake clock past a boundary, and `collectNow` joins a run in flight; the tests call `collectNow` alone.
    timeout_ms = 1000 if protocol == "modbus" else 3000
    fast = replace(
        settings,
        t3000_interface_timeout_ms=timeout_ms,
        t3000_max_retries=1,
        background_collection_enabled=False,
    )
    clock = FakeClock(NOW)
    with TestClient(create_app(fast, clock=clock), base_url=BASE_URL) as http:
        client = GraphQLClient(http)
        sim: Any = (
            T3ModbusSimulator(units=[1], update_interval=None)
            if protocol == "modbus"
            else BacnetSimulator(device_id=DEVICE, binary={})
        )
        client.run(sim.start)
        try:
            define_device(client, protocol, sim.port, points)
            yield Site(client, clock, protocol, sim)
        finally:
            client.run(sim.stop)


@pytest.fixture(params=["modbus", "bacnet"])
def site(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Site]:
    with open_site(settings, request.param) as opened:
        yield opened


@pytest.fixture
def modbus_site(settings: Settings) -> Iterator[Site]:
    with open_site(settings, "modbus", [*POINTS, *((PointType.VARIABLE, n) for n in range(1, 8))]) as opened:
        yield opened


# -- 1. a refused write -----------------------------------------------------------------------------------------------


def test_a_refused_write_is_a_device_error_and_the_other_points_are_still_read(site: Site) -> None:
    site.serve(PointType.INPUT, 1, 21.5)
    site.serve(PointType.INPUT, 2, 19.25)
    site.refuse_writes(PointType.VARIABLE, 8)
    assert site.current(PointType.INPUT, 1)["data"]["point"]["current"]["value"] == 21.5

    error = site.client.error(
        f"mutation {{ writePointValue(deviceId: {DEVICE}, pointType: VARIABLE, pointNumber: 8, value: 3) {{ value }} }}"
    )
    assert error["extensions"] == {"code": "DEVICE_ERROR", "deviceWrite": "REFUSED"}
    assert REFUSED[site.protocol] in error["message"]

    reads = site.device_reads
    body = site.current(PointType.INPUT, 2)  # the device is asked, promptly answers, and the value comes back
    assert "errors" not in body and body["data"]["point"]["current"] == {
        "value": 19.25,
        "stale": False,
        "source": "ON_DEMAND",
    }
    assert site.device_reads == reads + 1
    assert site.online() is True


# -- 2. a point the device lacks --------------------------------------------------------------------------------------


def test_a_point_the_device_lacks_fails_alone_in_a_bulk_read(site: Site) -> None:
    site.serve(PointType.INPUT, 1, 21.5)
    site.serve(PointType.VARIABLE, 8, 22.0)
    site.store_old_value(PointType.INPUT, 2, 5.0)
    site.lack(PointType.INPUT, 2)  # it has a stale value
    site.lack(PointType.INPUT, 3)  # it has none
    reads = site.device_reads
    body = site.client.post(
        f"""{{ device(deviceId: {DEVICE}) {{ data {{
              points {{ pointType pointNumber value stale refreshError {{ code message since retryAt }} }}
              failedPoints {{ pointType pointNumber error {{ code message since }} }} }} }} }}"""
    )
    assert "errors" not in body, body["errors"]  # nothing that makes Apollo or urql drop the data
    assert site.device_reads == reads + 1  # one bulk read for the four points
    data = body["data"]["device"]["data"]
    by_point = {(p["pointType"], p["pointNumber"]): p for p in data["points"]}
    assert set(by_point) == {("INPUT", 1), ("INPUT", 2), ("VARIABLE", 8)}
    assert (by_point[("INPUT", 1)]["value"], by_point[("INPUT", 1)]["refreshError"]) == (21.5, None)
    assert (by_point[("VARIABLE", 8)]["value"], by_point[("VARIABLE", 8)]["stale"]) == (22.0, False)
    stale = by_point[("INPUT", 2)]
    assert (stale["value"], stale["stale"]) == (5.0, True)
    assert stale["refreshError"]["code"] == "DEVICE_ERROR" and stale["refreshError"]["retryAt"] is None
    assert LACKING[site.protocol] in stale["refreshError"]["message"]
    assert stale["refreshError"]["since"] == "2025-01-02T00:00:30.000+00:00"
    [failed] = data["failedPoints"]
    assert (failed["pointType"], failed["pointNumber"], failed["error"]["code"]) == ("INPUT", 3, "DEVICE_ERROR")
    assert site.online() is True

    # A point with no value at all: `current` has nothing to carry the error, so it is the field's error.
    error = site.client.error(CURRENT % (DEVICE, "INPUT", 3))
    assert error["extensions"] == {"code": "DEVICE_ERROR"} and error["path"] == [
        "point",
        "current",
    ]

    health = site.client.http.get("/health").json()["collection"]["devices"][str(DEVICE)]
    assert health["online"] is True and health["retryAt"] is None
    assert [(p["pointType"], p["pointNumber"], p["code"]) for p in health["failingPoints"]] == [
        ("INPUT", 2, "DEVICE_ERROR"),
        ("INPUT", 3, "DEVICE_ERROR"),
    ]
    assert LACKING[site.protocol] in health["failingPoints"][0]["reason"]
    assert health["failingPoints"][0]["since"] == "2025-01-02T00:00:30.000+00:00"
    assert health["failingPoints"][1]["failures"] == 2  # the bulk read, then `current` of INPUT 3


def test_a_mixed_modbus_block_stores_its_good_registers_and_remembers_the_bad_one(modbus_site: Site) -> None:
    site, client = modbus_site, modbus_site.client
    for number in range(1, 9):
        site.serve(PointType.VARIABLE, number, number + 0.5)
    site.lack(PointType.VARIABLE, 3)  # VARIABLE 1..8 are one block of registers 8092..8107
    points = ", ".join(f"{{pointType: VARIABLE, pointNumber: {n}}}" for n in range(1, 9))
    log_id = client.data(
        f"""mutation {{ upsertTrendLog(deviceId: {DEVICE}, input: {{trendLogName: "vars", intervalSeconds: 60,
            points: [{points}]}}) {{ trendLogId }} }}"""
    )["upsertTrendLog"]["trendLogId"]
    collect = f"mutation {{ collectNow(trendLogId: {log_id}) {{ samples failedPoints {{ pointNumber error {{ code message }} }} }} }}"
    requests = site.sim.requests[3]

    run = client.data(collect)["collectNow"]
    assert run["samples"] == 7
    [failed] = run["failedPoints"]
    assert failed["pointNumber"] == 3 and failed["error"]["code"] == "DEVICE_ERROR"
    assert "address 8096, count 2: Modbus exception 2 (illegal data address)" in failed["error"]["message"]
    # 1..8, then halves until VARIABLE 3 stands alone: 1..4, 1..2, 3..4, 3, 4, 5..8
    assert site.sim.requests[3] - requests == 7
    history = client.data(
        f'{{ point(deviceId: {DEVICE}, pointType: VARIABLE, pointNumber: 7) {{ history(start: "2025-01-01T00:00:00Z", '
        'end: "2025-01-03T00:00:00Z") { columns { values } } } }'
    )
    assert history["point"]["history"]["columns"]["values"] == [7.5]
    assert site.online() is True

    site.clock.advance(60)
    requests = site.sim.requests[3]
    assert client.data(collect)["collectNow"]["samples"] == 7
    assert site.sim.requests[3] - requests == 2  # VARIABLE 3 is no longer asked for: 1..2, 4..8

    site.call(site.sim.restore_point, 1, PointType.VARIABLE, 3)  # added on the device: nothing here knows yet
    site.clock.advance(60)
    assert client.data(collect)["collectNow"]["samples"] == 7
    # The device edited (its options): the finding goes with its old driver, VARIABLE 3 is asked and found.
    client.data(
        f'mutation {{ upsertDevice(input: {{deviceId: {DEVICE}, options: {{site: "B"}}}}) {{ deviceId }} }}'
    )
    site.clock.advance(60)
    run = client.data(collect)["collectNow"]
    assert (run["samples"], run["failedPoints"]) == (8, [])

    site.lack(PointType.VARIABLE, 3)  # gone again: found again, and remembered again
    site.clock.advance(60)
    assert client.data(collect)["collectNow"]["samples"] == 7
    site.call(site.sim.restore_point, 1, PointType.VARIABLE, 3)
    site.clock.advance(60)
    assert client.data(collect)["collectNow"]["samples"] == 7
    # The point edited (any change to it): the driver asks for it again, and finds it.
    client.data(
        f"mutation {{ upsertMonitoringPoints(deviceId: {DEVICE}, points: [{{pointType: VARIABLE, pointNumber: 3, "
        'pointName: "checked"}]) { updated } }'
    )
    site.clock.advance(60)
    run = client.data(collect)["collectNow"]
    assert (run["samples"], run["failedPoints"]) == (8, [])


# -- 3. a device corrected, or deleted and re-created ----------------------------------------------------------------


def closed_port() -> int:
    """A TCP port nothing listens on (a simulator's, after it stopped): connecting is refused at once."""
    import asyncio

    async def probe() -> int:
        async with T3ModbusSimulator(units=[1], update_interval=None) as gone:
            return int(gone.port)

    return asyncio.run(probe())


def test_a_device_with_a_wrong_port_is_offline_until_it_is_corrected(modbus_site: Site) -> None:
    site, client = modbus_site, modbus_site.client
    site.serve(PointType.INPUT, 1, 23.0)
    wrong = closed_port()
    client.data(f"mutation {{ upsertDevice(input: {{deviceId: {DEVICE}, port: {wrong}}}) {{ deviceId }} }}")
    error = site.client.error(CURRENT % (DEVICE, "INPUT", 1))
    assert error["extensions"]["code"] == "DEVICE_TIMEOUT"
    client.run(client.services.collection.reader.wait_idle)  # the read (with its retry) ends: no answer
    assert site.online() is False

    requests = site.device_reads
    error = site.client.error(CURRENT % (DEVICE, "INPUT", 1))
    assert error["extensions"] == {"code": "DEVICE_OFFLINE", "retryAt": "2025-01-02T00:05:30.000+00:00"}
    assert f"127.0.0.1:{wrong}" in error["message"] and "tried again at" in error["message"]
    assert site.device_reads == requests  # skipped: nothing was sent

    client.data(
        f"mutation {{ upsertDevice(input: {{deviceId: {DEVICE}, port: {site.sim.port}}}) {{ deviceId }} }}"
    )
    sim_requests = site.sim.request_count
    body = site.current(PointType.INPUT, 1)  # at once: no waiting out the 300 s
    assert "errors" not in body and body["data"]["point"]["current"]["value"] == 23.0
    assert site.sim.request_count == sim_requests + 1
    assert site.online() is True


def test_a_device_deleted_and_re_created_starts_afresh(modbus_site: Site) -> None:
    site, client = modbus_site, modbus_site.client
    site.serve(PointType.INPUT, 1, 23.0)
    client.data(
        f"mutation {{ upsertDevice(input: {{deviceId: {DEVICE}, port: {closed_port()}}}) {{ deviceId }} }}"
    )
    client.error(CURRENT % (DEVICE, "INPUT", 1))
    client.run(client.services.collection.reader.wait_idle)
    assert client.error(CURRENT % (DEVICE, "INPUT", 1))["extensions"]["code"] == "DEVICE_OFFLINE"

    assert client.data(f"mutation {{ deleteDevice(deviceId: {DEVICE}) }}") == {"deleteDevice": True}
    define_device(client, "modbus", site.sim.port, [(PointType.INPUT, 1)])
    body = site.current(PointType.INPUT, 1)
    assert "errors" not in body and body["data"]["point"]["current"]["value"] == 23.0


# -- a stale value whose device did not answer --------------------------------------------------------------------


def test_a_stale_value_of_a_silent_device_is_data_with_its_refresh_error(modbus_site: Site) -> None:
    site, client = modbus_site, modbus_site.client
    site.store_old_value(PointType.INPUT, 1, 7.5)
    site.sim.pause()
    query = f"""{{ point(deviceId: {DEVICE}, pointType: INPUT, pointNumber: 1) {{
        current {{ value stale refreshError {{ code message since retryAt }} }} }} }}"""
    body = client.post(query)
    assert "errors" not in body
    current = body["data"]["point"]["current"]
    assert (current["value"], current["stale"], current["refreshError"]["code"]) == (7.5, True, "DEVICE_TIMEOUT")
    assert f"device {DEVICE} did not answer within 1 s" in current["refreshError"]["message"]
    client.run(client.services.collection.reader.wait_idle)
    site.clock.advance(10)
    offline = client.post(query)
    assert "errors" not in offline
    error = offline["data"]["point"]["current"]["refreshError"]
    assert error["code"] == "DEVICE_OFFLINE"
    assert error["since"] == "2025-01-02T00:00:30.000+00:00"  # when it first did not answer
    assert error["retryAt"] == "2025-01-02T00:05:30.000+00:00"
    site.sim.resume()


def test_a_silent_bacnet_device_goes_offline_with_its_reason(settings: Settings) -> None:
    fast = replace(settings, t3000_interface_timeout_ms=300, t3000_max_retries=0)
    with TestClient(create_app(fast, clock=FakeClock(NOW)), base_url=BASE_URL) as http:
        client = GraphQLClient(http)
        define_device(client, "bacnet", free_udp_port(), [(PointType.INPUT, 1)])  # nothing answers there
        client.error(CURRENT % (DEVICE, "INPUT", 1))
        client.run(client.services.collection.reader.wait_idle)
        device = client.data(f"{{ device(deviceId: {DEVICE}) {{ online }} }}")["device"]
        assert device == {"online": False}
        assert client.error(CURRENT % (DEVICE, "INPUT", 1))["extensions"]["code"] == "DEVICE_OFFLINE"


# -- deviceStatus and /health --------------------------------------------------------------------------------------

STATUS = """subscription ($deviceId: Int) { deviceStatus(deviceId: $deviceId) {
    deviceId online error { code message since retryAt }
    failingPoints { pointType pointNumber error { code message since } } } }"""


async def test_device_status_shows_failing_points_beside_online(settings: Settings) -> None:
    fast = replace(settings, t3000_interface_timeout_ms=1000, t3000_max_retries=0)
    async with T3ModbusSimulator(units=[1], update_interval=None) as sim, serve_in_loop(fast) as server:
        sim.remove_point(1, PointType.INPUT, 2)

        async def post(query: str) -> dict[str, Any]:
            async with httpx.AsyncClient(base_url=server.http_url) as http:
                body: dict[str, Any] = (await http.post("/graphql", json={"query": query})).json()
            return body

        points = ", ".join(f"{{pointType: INPUT, pointNumber: {n}}}" for n in (1, 2, 3))
        await post(
            f"""mutation {{ upsertDevice(input: {{deviceId: {DEVICE}, deviceName: "ws", deviceType: "T3-BB",
                protocol: MODBUS, ipAddress: "127.0.0.1", port: {sim.port}, modbusUnitId: 1}}) {{ deviceId }}
              upsertMonitoringPoints(deviceId: {DEVICE}, points: [{points}]) {{ inserted }} }}"""
        )
        async with GraphQLSocket.open(server.ws_url) as ws:
            await ws.subscribe("s", STATUS, {"deviceId": DEVICE})
            await wait_until(lambda: server.services.live.metrics().subscribers == 1, "the subscription")

            body = await post(f"{{ device(deviceId: {DEVICE}) {{ data {{ points {{ pointNumber }} }} }} }}")
            assert [p["pointNumber"] for p in body["data"]["device"]["data"]["points"]] == [1, 3]
            status = (await ws.next_data("s"))["deviceStatus"]
            assert (status["deviceId"], status["online"], status["error"]) == (DEVICE, True, None)
            [failing] = status["failingPoints"]
            assert (failing["pointType"], failing["pointNumber"], failing["error"]["code"]) == (
                "INPUT",
                2,
                "DEVICE_ERROR",
            )
            assert "Modbus exception 2 (illegal data address)" in failing["error"]["message"]
            assert failing["error"]["since"].endswith("+00:00")

            # Back on the device, and the point edited so the driver asks for it again: no failing point left.
            sim.restore_point(1, PointType.INPUT, 2)
            await post(
                f"mutation {{ upsertMonitoringPoints(deviceId: {DEVICE}, points: [{{pointType: INPUT, pointNumber: 2, "
                'pointName: "fixed"}]) { updated } }'
            )
            refreshed = await post(
                f"mutation {{ refreshPoint(deviceId: {DEVICE}, pointType: INPUT, pointNumber: 2) {{ stale }} }}"
            )
            assert refreshed["data"] == {"refreshPoint": {"stale": False}}
            status = (await ws.next_data("s"))["deviceStatus"]
            assert (status["online"], status["failingPoints"]) == (True, [])

            # Silent now: offline, with why and when it is tried again.
            sim.pause()
            silent = await post(
                f"mutation {{ refreshPoint(deviceId: {DEVICE}, pointType: INPUT, pointNumber: 1) {{ stale }} }}"
            )
            assert silent["errors"][0]["extensions"]["code"] == "DEVICE_TIMEOUT"
            status = (await ws.next_data("s"))["deviceStatus"]
            assert status["online"] is False and status["error"]["code"] == "DEVICE_TIMEOUT"
            assert status["error"]["retryAt"] > status["error"]["since"]
            async with httpx.AsyncClient(base_url=server.http_url) as http:
                health = (await http.get("/health")).json()
            device = health["collection"]["devices"][str(DEVICE)]
            assert (device["online"], device["code"], device["failingPoints"]) == (False, "DEVICE_TIMEOUT", [])
            sim.resume()
