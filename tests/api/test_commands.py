"""Commanding hardware through /graphql against the project's Modbus and BACnet simulators (real sockets on
127.0.0.1): the rules a write obeys before anything is sent, BACnet priorities and their release, a T3 point's
auto/manual switch, and the audit trail's intent and outcome when the device refuses or does not answer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from starlette.testclient import TestClient

from t3000gql.app import create_app
from t3000gql.auth import Role
from t3000gql.collect.drivers import t3_registers
from t3000gql.collect.simulators.bacnet import BacnetSimulator
from t3000gql.collect.simulators.t3_modbus import T3ModbusSimulator
from t3000gql.config import Settings
from t3000gql.domain.points import PointType
from tests.api.conftest import BASE_URL, NOW, GraphQLClient, bearer, issue_token
from tests.api.test_device_faults import DEVICE, Site
from tests.conftest import FakeClock

POINTS = (
    '{pointType: OUTPUT, pointNumber: 1, pointName: "Damper"}, '
    '{pointType: OUTPUT, pointNumber: 2, pointName: "Pump", unitCode: 101}, '
    '{pointType: INPUT, pointNumber: 1, pointName: "Supply air"}, '
    '{pointType: VARIABLE, pointNumber: 1, pointName: "Setpoint", minValue: 10, maxValue: 30}, '
    '{pointType: VARIABLE, pointNumber: 2, pointName: "Spare", isActive: false}'
)
WRITE = (
    "mutation ($t: PointType!, $n: Int!, $v: Float!, $p: Int) { writePointValue(deviceId: DEVICE, pointType: $t, "
    "pointNumber: $n, value: $v, priority: $p) { value source } }"
).replace("DEVICE", str(DEVICE))
RELEASE = (
    "mutation ($t: PointType!, $n: Int!, $p: Int) { releasePointValue(deviceId: DEVICE, pointType: $t, "
    "pointNumber: $n, priority: $p) { value source } }"
).replace("DEVICE", str(DEVICE))
AUDIT = f"{{ auditLog(deviceId: {DEVICE}) {{ entries {{ operation outcome newValue detail user }} }} }}"


def state(point_type: str, number: int) -> str:
    return (
        f"{{ point(deviceId: {DEVICE}, pointType: {point_type}, pointNumber: {number}) "
        "{ priorityArray autoManual writable } }"
    )


@contextlib.contextmanager
def commanded(settings: Settings, protocol: str) -> Iterator[Site]:
    """The app with one device on a simulator of `protocol` and five points with their command rules."""
    fast = replace(
        settings,
        t3000_interface_timeout_ms=1000 if protocol == "modbus" else 3000,
        t3000_max_retries=0,
        background_collection_enabled=False,
    )
    clock = FakeClock(NOW)
    with TestClient(create_app(fast, clock=clock), base_url=BASE_URL) as http:
        client = GraphQLClient(http)
        sim: Any = (
            T3ModbusSimulator(units=[1], update_interval=None)
            if protocol == "modbus"
            else BacnetSimulator(device_id=DEVICE, binary={PointType.OUTPUT: 2})
        )
        client.run(sim.start)
        try:
            unit = "modbusUnitId: 1" if protocol == "modbus" else f"bacnetInstance: {DEVICE}"
            client.data(
                f"""mutation {{
                  upsertDevice(input: {{deviceId: {DEVICE}, deviceName: "AHU", deviceType: "T3-BB",
                    protocol: {protocol.upper()}, ipAddress: "127.0.0.1", port: {sim.port}, {unit}}}) {{ deviceId }}
                  upsertMonitoringPoints(deviceId: {DEVICE}, points: [{POINTS}]) {{ inserted }}
                }}"""
            )
            yield Site(client, clock, protocol, sim)
        finally:
            client.run(sim.stop)


def write(site: Site, point_type: str, number: int, value: float, priority: int | None = None) -> dict[str, Any]:
    return site.client.post(WRITE, {"t": point_type, "n": number, "v": value, "p": priority})


def release(site: Site, point_type: str, number: int, priority: int | None = None) -> dict[str, Any]:
    return site.client.post(RELEASE, {"t": point_type, "n": number, "p": priority})


REFUSALS = [
    ("INPUT", 1, 1.0, "writable", "is not writable"),
    ("VARIABLE", 2, 20.0, "isActive", "is inactive: commands go to active points only"),
    ("VARIABLE", 1, 9.5, "value", "is below the point's minValue 10"),
    ("VARIABLE", 1, 30.5, "value", "is above the point's maxValue 30"),
    ("OUTPUT", 2, 0.5, "value", "is digital: it takes 0 (off) or 1 (on)"),
    ("OUTPUT", 2, 2.0, "value", "is digital: it takes 0 (off) or 1 (on)"),
]


def nothing_reached(site: Site) -> None:
    """The device got no write of any kind."""
    if site.protocol == "modbus":
        assert site.sim.requests[16] == 0 and site.sim.requests[6] == 0, site.sim.requests
    else:
        for point_type, number, digital in (
            (PointType.OUTPUT, 1, False),
            (PointType.OUTPUT, 2, True),
            (PointType.VARIABLE, 1, False),
            (PointType.VARIABLE, 2, False),
        ):
            slots = site.call(lambda t=point_type, n=number, d=digital: site.sim.priority_array(t, n, digital=d))
            assert slots == [None] * 16, (point_type, number, slots)
        assert site.call(lambda: site.sim.value(PointType.INPUT, 1)) == 0.0


@pytest.mark.parametrize("protocol", ["modbus", "bacnet"])
def test_a_write_that_breaks_a_rule_is_refused_naming_it_and_nothing_reaches_the_device(
    settings: Settings, protocol: str
) -> None:
    with commanded(settings, protocol) as site:
        for point_type, number, value, field, reason in REFUSALS:
            body = write(site, point_type, number, value)
            assert body["data"] == {"writePointValue": None}
            [error] = body["errors"]
            assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["field"] == field
            assert reason in error["message"], error["message"]
        site.client.data(
            f"mutation {{ upsertDevice(input: {{deviceId: {DEVICE}, isActive: false}}) {{ deviceId }} }}"
        )
        inactive = write(site, "OUTPUT", 1, 50.0)["errors"][0]
        assert inactive["extensions"]["field"] == "isActive"
        assert f"device {DEVICE} is inactive: commands go to active devices only" in inactive["message"]
        released = release(site, "OUTPUT", 1)["errors"][0]  # a release obeys the same rules
        assert released["extensions"]["field"] == "isActive"
        nothing_reached(site)
        assert site.client.data(AUDIT)["auditLog"]["entries"][0]["operation"] == "update_device"


def test_bacnet_writes_at_a_priority_and_a_release_relinquishes_it(settings: Settings) -> None:
    with commanded(settings, "bacnet") as site:
        sim = site.sim

        def slots() -> list[float | None]:
            found: list[float | None] = site.call(lambda: sim.priority_array(PointType.OUTPUT, 1))
            return found

        assert write(site, "OUTPUT", 1, 42.0)["data"]["writePointValue"] == {"value": 42.0, "source": "API_WRITE"}
        assert slots() == [None] * 7 + [42.0] + [None] * 8  # BACNET_WRITE_PRIORITY, 8: manual operator
        assert write(site, "OUTPUT", 1, 11.5, priority=3)["data"]["writePointValue"]["value"] == 11.5
        assert site.call(lambda: sim.value(PointType.OUTPUT, 1)) == 11.5  # priority 3 rules over 8
        damper = site.client.data(state("OUTPUT", 1))["point"]
        assert damper == {
            "priorityArray": [None, None, 11.5, None, None, None, None, 42.0] + [None] * 8,
            "autoManual": None,
            "writable": True,
        }
        back = release(site, "OUTPUT", 1, priority=3)["data"]["releasePointValue"]
        assert back == {"value": 42.0, "source": "ON_DEMAND"}  # read back: priority 8 rules again
        assert release(site, "OUTPUT", 1)["data"]["releasePointValue"]["value"] == 0.0  # relinquishDefault
        assert slots() == [None] * 16
        assert write(site, "OUTPUT", 2, 1.0, priority=16)["data"]["writePointValue"]["value"] == 1.0
        pump = site.call(lambda: sim.priority_array(PointType.OUTPUT, 2, digital=True))
        assert (
            pump == [None] * 15 + [1.0] and site.call(lambda: sim.value(PointType.OUTPUT, 2, digital=True)) == 1.0
        )
        for bad in (0, 17):
            error = write(site, "OUTPUT", 1, 5.0, priority=bad)["errors"][0]
            assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "priority", "value": bad}
        assert site.client.data(state("INPUT", 1))["point"]["priorityArray"] is None  # not commandable
        entries = site.client.data(AUDIT)["auditLog"]["entries"]
        commands = [
            (e["operation"], e["outcome"], e["newValue"], e["detail"].get("priority"))
            for e in entries
            if e["operation"] in ("write_point_value", "release_point_value")
        ]
        assert commands == [
            ("write_point_value", "DONE", 1.0, 16),
            ("release_point_value", "DONE", None, 8),
            ("release_point_value", "DONE", None, 3),
            ("write_point_value", "DONE", 11.5, 3),
            ("write_point_value", "DONE", 42.0, 8),
        ]


def test_a_t3_write_switches_the_point_to_manual_and_a_release_back_to_auto(settings: Settings) -> None:
    with commanded(settings, "modbus") as site:
        sim = site.sim
        switch = t3_registers.auto_manual_register(PointType.OUTPUT, 1)
        assert site.client.data(state("OUTPUT", 1))["point"]["autoManual"] == "AUTO"
        assert write(site, "OUTPUT", 1, 37.25)["data"]["writePointValue"]["value"] == 37.25
        assert site.client.run(sim.registers, 1, switch, 1) == [t3_registers.MANUAL]
        assert site.client.run(sim.value, 1, PointType.OUTPUT, 1) == 37.25
        assert site.client.data(state("OUTPUT", 1))["point"] == {
            "priorityArray": None,
            "autoManual": "MANUAL",
            "writable": True,
        }
        priority = write(site, "OUTPUT", 1, 5.0, priority=8)["errors"][0]
        assert priority["extensions"]["field"] == "priority" and "priorities are BACnet's" in priority["message"]
        back = release(site, "OUTPUT", 1)["data"]["releasePointValue"]
        assert back == {"value": 37.25, "source": "ON_DEMAND"}  # the program takes over from the value it holds
        assert site.client.run(sim.registers, 1, switch, 1) == [t3_registers.AUTO]
        assert site.client.data(state("OUTPUT", 1))["point"]["autoManual"] == "AUTO"


def test_a_write_the_device_refuses_or_does_not_confirm_is_audited_as_failed_and_stores_nothing(
    settings: Settings,
) -> None:
    operator = issue_token(settings, "night-shift", Role.OPERATOR)
    with commanded(settings, "modbus") as site:
        site.store_old_value(PointType.OUTPUT, 1, 12.0)
        site.call(site.sim.refuse_writes, 1, PointType.OUTPUT, 1)
        refused = write(site, "OUTPUT", 1, 20.0)["errors"][0]
        assert refused["extensions"] == {"code": "DEVICE_ERROR", "deviceWrite": "REFUSED"}
        assert "the device refused the command: nothing was changed" in refused["message"]

        site.call(site.sim.pause)
        unconfirmed = write(site, "VARIABLE", 1, 21.0)["errors"][0]
        assert unconfirmed["extensions"] == {"code": "DEVICE_TIMEOUT", "deviceWrite": "UNCONFIRMED"}
        assert "it may or may not have taken it" in unconfirmed["message"]
        assert "127.0.0.1" in unconfirmed["message"]  # anonymous on loopback is an admin: the details

        as_operator = site.client.post(
            WRITE, {"t": "VARIABLE", "n": 1, "v": 22.0, "p": None}, headers=bearer(operator)
        )["errors"][0]
        assert as_operator["extensions"] == {"code": "DEVICE_TIMEOUT", "deviceWrite": "UNCONFIRMED"}
        assert as_operator["message"] == (
            "the device did not answer in time; it did not confirm the command: it may or may not have taken it "
            "(an admin sees the details)"
        )  # no address, no port: nothing to scan with
        site.call(site.sim.resume)

        entries = site.client.data(AUDIT)["auditLog"]["entries"]
        failed = [
            (e["user"], e["newValue"], e["outcome"], e["detail"]["device_took"])
            for e in entries
            if e["operation"] == "write_point_value"
        ]
        assert failed == [
            ("night-shift", 22.0, "FAILED", "unknown"),
            ("anonymous", 21.0, "FAILED", "unknown"),
            ("anonymous", 20.0, "FAILED", "no"),
        ]
        assert all("error" in e["detail"] for e in entries if e["operation"] == "write_point_value")
        current = site.current(PointType.OUTPUT, 1)["data"]["point"]["current"]
        assert current["value"] == 12.0  # nothing stored for a write the device did not take
