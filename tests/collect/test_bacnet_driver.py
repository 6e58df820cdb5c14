"""The BACnet driver against a BAC0 device on 127.0.0.1 (its own UDP port) through readMultiple.

BAC0 sleeps about a second while starting an application, so the simulator and the client application are
started once for the module, on a module-scoped event loop.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from t3000gql.collect.drivers import DeviceConnection, DriverManager, PointSpec
from t3000gql.collect.drivers.bacnet import BacnetDriver, free_udp_port
from t3000gql.collect.drivers.retry import RetryPolicy
from t3000gql.collect.simulators.bacnet import BacnetSimulator
from t3000gql.config import Settings
from t3000gql.domain.points import PointRef, PointType
from t3000gql.errors import DeviceError, DeviceTimeout

pytestmark = pytest.mark.asyncio(loop_scope="module")

KINDS = (PointType.INPUT, PointType.OUTPUT, PointType.VARIABLE)
POLICY = RetryPolicy(timeout=0.3, retries=1, backoff_base=0.01)
BATCH = 5


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def bacnet_sim() -> AsyncIterator[BacnetSimulator]:
    async with BacnetSimulator(
        device_id=1001, analog=dict.fromkeys(KINDS, 8), binary=dict.fromkeys(KINDS, 4)
    ) as sim:
        yield sim


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def manager() -> AsyncIterator[DriverManager]:
    settings = Settings.defaults(
        t3000_interface_timeout_ms=round(POLICY.timeout * 1000),
        t3000_max_retries=POLICY.retries,
        t3000_bulk_request_size=BATCH,
    )
    async with DriverManager(settings, backoff_base=POLICY.backoff_base) as manager:
        yield manager


@pytest.fixture
def driver(bacnet_sim: BacnetSimulator, manager: DriverManager) -> BacnetDriver:
    driver = manager.open(DeviceConnection("bacnet", bacnet_sim.host, bacnet_sim.port, bacnet_instance=1001))
    assert isinstance(driver, BacnetDriver)
    return driver


async def test_analog_objects_read_through_read_multiple(
    bacnet_sim: BacnetSimulator, driver: BacnetDriver
) -> None:
    served = {
        PointRef(1, PointType.INPUT, 1): -12.5,
        PointRef(1, PointType.INPUT, 8): 21.25,
        PointRef(1, PointType.OUTPUT, 2): 75.5,
        PointRef(1, PointType.VARIABLE, 3): 1_000_000.0,
    }
    for ref, value in served.items():
        bacnet_sim.set_value(ref.point_type, ref.point_number, value)
    result = await driver.read_points([PointSpec(ref) for ref in served])
    assert result.values == served and result.errors == {}


async def test_binary_objects_read_as_one_and_zero(bacnet_sim: BacnetSimulator, driver: BacnetDriver) -> None:
    # A point is (device, type, number); the binary objects are given their own device id here so that
    # they do not collide with the analog points of the same numbers in the result.
    for point_type in KINDS:
        bacnet_sim.set_value(point_type, 1, 1, digital=True)
        bacnet_sim.set_value(point_type, 2, 0, digital=True)
    points = [PointSpec(PointRef(2, t, n), digital=True) for t in KINDS for n in (1, 2)]
    values = (await driver.read_points(points)).values
    assert values == {p.ref: (1.0 if p.ref.point_number == 1 else 0.0) for p in points}


async def test_points_are_read_in_batches_of_the_bulk_size(driver: BacnetDriver) -> None:
    points = [PointSpec(PointRef(1, t, n)) for t in KINDS for n in range(1, 9)]  # 24 objects
    before = driver.requests_sent
    assert len((await driver.read_points(points)).values) == 24
    assert driver.requests_sent - before == 5  # ceil(24 / 5) readMultiple requests


async def test_writes_round_trip(bacnet_sim: BacnetSimulator, driver: BacnetDriver) -> None:
    output = PointSpec(PointRef(1, PointType.OUTPUT, 4))
    variable = PointSpec(PointRef(1, PointType.VARIABLE, 4))
    switch = PointSpec(PointRef(2, PointType.VARIABLE, 3), digital=True)
    await driver.write_point(output, 33.5)
    await driver.write_point(variable, -7.25)
    await driver.write_point(switch, 1)
    assert bacnet_sim.value(PointType.OUTPUT, 4) == 33.5
    assert bacnet_sim.value(PointType.VARIABLE, 3, digital=True) == 1.0
    assert (await driver.read_points([output, variable, switch])).values == {
        output.ref: 33.5,
        variable.ref: -7.25,
        switch.ref: 1.0,
    }


async def test_an_unknown_object_is_that_points_error_alone(driver: BacnetDriver) -> None:
    # alone in a request, the device refuses the whole request: an answer, not a timeout
    missing = PointRef(1, PointType.INPUT, 99)
    alone = await driver.read_points([PointSpec(missing)])
    assert alone.no_answer is None and alone.values == {}
    assert not isinstance(alone.errors[missing], DeviceTimeout)
    assert "Unknown object" in str(alone.errors[missing])
    # in a batch with objects that exist, the device answers an error for that object alone
    mixed = await driver.read_points([PointSpec(PointRef(1, PointType.INPUT, n)) for n in (1, 99)])
    assert list(mixed.values) == [PointRef(1, PointType.INPUT, 1)]
    assert "no presentValue for analog-input,99 (object/unknown-object)" in str(mixed.errors[missing])


async def test_a_batch_the_device_refuses_whole_is_split_to_find_the_unknown_objects(
    driver: BacnetDriver,
) -> None:
    # A batch of only unknown objects is refused as a whole (bacpypes3 answers unknown-object for the request):
    # halves are asked until each object stands alone; the batch after it is read as usual.
    unknown = [PointSpec(PointRef(1, PointType.VARIABLE, n)) for n in (91, 92, 93, 94, 95)]
    known = [PointSpec(PointRef(1, PointType.VARIABLE, n)) for n in (1, 2)]
    before = driver.requests_sent
    result = await driver.read_points(unknown + known)
    assert set(result.errors) == {p.ref for p in unknown} and set(result.values) == {p.ref for p in known}
    assert driver.requests_sent - before == 9 + 1  # 91..95, 91..92, 91, 92, 93..95, 93, 94..95, 94, 95; then 1..2


async def test_an_object_the_device_lacks_fails_alone_and_its_neighbours_are_read(
    bacnet_sim: BacnetSimulator, driver: BacnetDriver
) -> None:
    bacnet_sim.set_value(PointType.OUTPUT, 5, 12.5)
    bacnet_sim.set_value(PointType.OUTPUT, 7, 17.5)
    bacnet_sim.remove_object(PointType.OUTPUT, 6)
    try:
        points = [PointSpec(PointRef(1, PointType.OUTPUT, n)) for n in (5, 6, 7)]
        result = await driver.read_points(points)
    finally:
        bacnet_sim.restore_object(PointType.OUTPUT, 6)
    assert result.values == {points[0].ref: 12.5, points[2].ref: 17.5}
    assert "analog-output,6 (object/unknown-object)" in str(result.errors[points[1].ref])


async def test_a_refused_write_is_a_device_error_naming_the_reason(
    bacnet_sim: BacnetSimulator, driver: BacnetDriver
) -> None:
    bacnet_sim.set_value(PointType.VARIABLE, 8, 20.0)
    bacnet_sim.refuse_writes(PointType.VARIABLE, 8)
    with pytest.raises(DeviceError, match="write-access-denied") as info:
        await driver.write_point(PointSpec(PointRef(1, PointType.VARIABLE, 8)), 3.0)
    assert not isinstance(info.value, DeviceTimeout)
    assert bacnet_sim.value(PointType.VARIABLE, 8) == 20.0
    await driver.write_point(PointSpec(PointRef(1, PointType.VARIABLE, 7)), 3.0)
    assert bacnet_sim.value(PointType.VARIABLE, 7) == 3.0


async def test_writing_an_input_is_refused_by_the_device(driver: BacnetDriver) -> None:
    with pytest.raises(DeviceError, match="write-access-denied") as info:
        await driver.write_point(PointSpec(PointRef(1, PointType.INPUT, 2)), 1.0)
    assert not isinstance(info.value, DeviceTimeout)


async def test_silent_device_is_a_timeout(manager: DriverManager) -> None:
    silent = manager.open(DeviceConnection("bacnet", "127.0.0.1", free_udp_port()))
    started = time.monotonic()
    result = await silent.read_points([PointSpec(PointRef(1, PointType.INPUT, 1))])
    assert isinstance(result.no_answer, DeviceTimeout) and "did not answer" in str(result.no_answer)
    assert result.values == {} and list(result.errors.values()) == [result.no_answer]
    assert time.monotonic() - started <= POLICY.worst_case + 1.0
