"""Device statuses on the wire: why a device is offline and its failing points travel whole, in one process
(memory://) and between processes (the local Redis; skipped when absent, failed under
T3000GQL_REQUIRE_SERVICES=1), and a status in the earlier three-field form is still read."""

from __future__ import annotations

import uuid

import orjson

from t3000gql.domain.faults import Fault, PointFault
from t3000gql.domain.points import PointRef, PointType
from t3000gql.live import DeviceStatus, LiveBus
from t3000gql.live.events import decode, encode_statuses
from tests.live.helpers import take

T0 = 1_700_000_000_000
OFFLINE = DeviceStatus(3, False, T0, Fault("DEVICE_TIMEOUT", "no answer", T0 - 5000, T0 + 300_000))
FAILING = DeviceStatus(
    4,
    True,
    T0,
    None,
    (
        PointFault(PointRef(4, PointType.INPUT, 2), Fault("DEVICE_ERROR", "Modbus exception 2", T0 - 1000)),
        PointFault(PointRef(4, PointType.VARIABLE, 8), Fault("BAD_USER_INPUT", "a T3 has 128 variables", T0)),
    ),
)


def test_a_status_round_trips_whole() -> None:
    message = decode(encode_statuses("me", [OFFLINE, FAILING, DeviceStatus(5, True, T0)]))
    assert message.statuses == [OFFLINE, FAILING, DeviceStatus(5, True, T0)]


def test_the_three_field_form_of_earlier_versions_is_read() -> None:
    old = orjson.dumps({"o": "older", "d": [[7, False, T0]]})
    assert decode(old).statuses == [DeviceStatus(7, False, T0)]


async def test_faults_reach_subscribers_in_one_process() -> None:
    async with LiveBus("memory://") as bus:
        with bus.watch_devices() as sub:
            bus.publish_device_status(4, True, T0, failing=FAILING.failing)
            bus.publish_device_status(3, False, T0, fault=OFFLINE.fault)
            assert await take(sub, 2) == [FAILING, OFFLINE]


async def test_faults_cross_processes(redis_url: str) -> None:
    prefix = f"t3000gql-test-{uuid.uuid4().hex}"
    async with LiveBus(redis_url, prefix=prefix) as a, LiveBus(redis_url, prefix=prefix) as b:
        with b.watch_devices(device_ids=[4]) as sub:
            a.publish_device_status(4, True, T0, failing=FAILING.failing)
            assert await take(sub, 1) == [FAILING]
