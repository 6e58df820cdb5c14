"""The simulated driver: deterministic for a seed and a clock, believable ranges, writes that stick."""

from __future__ import annotations

import pytest

from t3000gql.collect.drivers import DeviceConnection, PointSpec, open_driver
from t3000gql.collect.drivers.simulated import SimulatedDriver, waveform_value
from t3000gql.config import Settings
from t3000gql.domain.points import T3_POINT_COUNTS, PointRef, PointType
from t3000gql.errors import ValidationError

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
OCCUPIED = {20.0, 21.0, 21.5, 22.0, 22.5, 23.0, 24.0}
SETPOINTS = OCCUPIED | {v - 3 for v in OCCUPIED} | {50.0, 800.0}  # night setback of room setpoints


def points(device_id: int = 7, digital: bool = False) -> list[PointSpec]:
    return [
        PointSpec(PointRef(device_id, point_type, number), digital=digital)
        for point_type, count in T3_POINT_COUNTS.items()
        for number in range(1, count + 1)
    ]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_same_seed_and_time_give_the_same_values() -> None:
    first = await SimulatedDriver(seed=42, clock=FakeClock(T0)).read_points(points())
    second = await SimulatedDriver(seed=42, clock=FakeClock(T0)).read_points(points())
    assert first == second
    other_seed = await SimulatedDriver(seed=43, clock=FakeClock(T0)).read_points(points())
    assert other_seed != first


@pytest.mark.parametrize(
    ("point_type", "number", "digital", "at_midnight", "at_noon"),
    [
        (PointType.INPUT, 1, False, 163.626, 188.319),  # this seed makes input 1 a pressure in Pa
        (PointType.OUTPUT, 2, False, 43.154, 32.401),
        (PointType.VARIABLE, 3, False, 18.5, 21.5),  # a 21.5 degC setpoint, set back at night
        (PointType.OUTPUT, 4, True, 1.0, 0.0),
    ],
)
def test_values_are_known_numbers_for_a_seed(
    point_type: PointType, number: int, digital: bool, at_midnight: float, at_noon: float
) -> None:
    # Pinned so that a change of the waveforms (and so of every demo database) is a deliberate one.
    ref = PointRef(7, point_type, number)
    assert waveform_value(42, ref, T0, digital=digital) == at_midnight
    assert waveform_value(42, ref, T0 + 43200, digital=digital) == at_noon


async def test_values_move_smoothly_with_time() -> None:
    clock = FakeClock(T0)
    driver = SimulatedDriver(seed=1, clock=clock)
    inputs = [p for p in points() if p.ref.point_type == PointType.INPUT]
    before = (await driver.read_points(inputs)).values
    clock.now += 60
    a_minute_later = (await driver.read_points(inputs)).values
    clock.now += 6 * 3600
    hours_later = (await driver.read_points(inputs)).values
    assert a_minute_later != before
    assert hours_later != a_minute_later
    for point in inputs:  # a minute changes a temperature by tenths, not degrees
        assert abs(a_minute_later[point.ref] - before[point.ref]) < 0.05 * max(1.0, abs(before[point.ref])) + 1


async def test_ranges_are_believable() -> None:
    clock = FakeClock(T0)
    driver = SimulatedDriver(seed=3, clock=clock)
    for hour in range(0, 48, 5):
        clock.now = T0 + hour * 3600
        values = (await driver.read_points(points())).values
        for ref, value in values.items():
            if ref.point_type == PointType.OUTPUT:
                assert 0 <= value <= 100
            elif ref.point_type == PointType.INPUT:
                assert -40 <= value <= 5000
            else:
                assert value in SETPOINTS
        digital = (await driver.read_points(points(digital=True))).values
        assert set(digital.values()) <= {0.0, 1.0}


async def test_writes_stick() -> None:
    clock = FakeClock(T0)
    driver = SimulatedDriver(seed=5, clock=clock)
    setpoint = PointSpec(PointRef(7, PointType.VARIABLE, 3))
    fan = PointSpec(PointRef(7, PointType.OUTPUT, 1), digital=True)
    await driver.write_point(setpoint, 23.25)
    await driver.write_point(fan, 5)
    clock.now += 86400
    assert (await driver.read_points([setpoint, fan])).values == {setpoint.ref: 23.25, fan.ref: 1.0}


async def test_points_a_controller_does_not_serve_fail_alone() -> None:
    driver = SimulatedDriver()
    program = PointRef(1, PointType.PROGRAM, 1)
    result = await driver.read_points([PointSpec(program), PointSpec(PointRef(1, PointType.INPUT, 1))])
    assert isinstance(result.errors[program], ValidationError) and len(result.values) == 1
    with pytest.raises(ValidationError):
        await driver.write_point(PointSpec(PointRef(1, PointType.OUTPUT, 1)), float("nan"))


async def test_open_driver_seeds_a_simulated_device_by_its_unit_id() -> None:
    settings = Settings.defaults()
    clock = FakeClock(T0)
    driver = open_driver(DeviceConnection("simulated", unit_id=9), settings, clock=clock)
    assert isinstance(driver, SimulatedDriver)
    assert (await driver.read_points(points())).values == (
        await SimulatedDriver(seed=9, clock=clock).read_points(points())
    ).values
    await driver.close()
