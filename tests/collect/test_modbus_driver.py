"""The Modbus driver against the T3 simulator over real TCP sockets on 127.0.0.1 (free ports only)."""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import replace

import pytest

from t3000gql.collect.drivers import (
    DeviceConnection,
    DriverManager,
    PointSpec,
    RegisterMap,
    open_driver,
    t3_registers,
)
from t3000gql.collect.drivers.modbus import ModbusDriver, plan_reads
from t3000gql.collect.drivers.retry import RetryPolicy
from t3000gql.collect.simulators.t3_modbus import T3ModbusSimulator
from t3000gql.config import Settings
from t3000gql.domain.points import T3_POINT_COUNTS, PointRef, PointType
from t3000gql.errors import DeviceError, DeviceTimeout, ValidationError

BACKOFF = 0.01  # the `policy` fixture's backoff base


def all_t3_points(device_id: int = 1) -> list[PointSpec]:
    return [
        PointSpec(PointRef(device_id, point_type, number))
        for point_type, count in T3_POINT_COUNTS.items()
        for number in range(1, count + 1)
    ]


def modbus(sim: T3ModbusSimulator, settings: Settings, unit: int = 1) -> ModbusDriver:
    driver = open_driver(
        DeviceConnection("modbus", sim.host, sim.port, unit_id=unit), settings, backoff_base=BACKOFF
    )
    assert isinstance(driver, ModbusDriver)
    return driver


async def test_values_read_equal_values_served_including_int32_boundaries(
    t3_sim: T3ModbusSimulator, settings: Settings
) -> None:
    served = {
        PointRef(1, PointType.INPUT, 1): 21.5,
        PointRef(1, PointType.INPUT, 2): -12.345,
        PointRef(1, PointType.OUTPUT, 64): 100.0,
        PointRef(1, PointType.VARIABLE, 1): 2147483.647,
        PointRef(1, PointType.VARIABLE, 128): -2147483.648,
        PointRef(1, PointType.VARIABLE, 50): -0.001,
    }
    for ref, value in served.items():
        await t3_sim.set_value(1, ref.point_type, ref.point_number, value)
    async with modbus(t3_sim, settings) as driver:
        result = await driver.read_points([PointSpec(ref) for ref in served])
    assert result.values == served and result.errors == {}


async def test_256_points_are_read_in_7_requests(t3_sim: T3ModbusSimulator, settings: Settings) -> None:
    # 64 outputs and 64 inputs are 128 registers each (2 requests of ≤125), 128 variables 256 registers (3).
    async with modbus(t3_sim, settings) as driver:
        before = t3_sim.requests[3]
        values = (await driver.read_points(all_t3_points())).values
        assert len(values) == 256
        assert t3_sim.requests[3] - before == 7
        assert driver.link.requests_sent == 7
        for ref in (PointRef(1, PointType.INPUT, 64), PointRef(1, PointType.VARIABLE, 77)):
            assert values[ref] == await t3_sim.value(1, ref.point_type, ref.point_number)


async def test_bulk_request_size_limits_points_per_request(t3_sim: T3ModbusSimulator) -> None:
    settings = Settings.defaults(t3000_bulk_request_size=10)
    async with modbus(t3_sim, settings) as driver:
        await driver.read_points(all_t3_points())
    assert t3_sim.requests[3] == 7 + 7 + 13  # ceil(64/10), ceil(64/10), ceil(128/10)


def test_plan_reads_joins_only_contiguous_registers_of_one_function() -> None:
    def spec(number: int, rmap: RegisterMap) -> PointSpec:
        return PointSpec(PointRef(1, PointType.VARIABLE, number), register_map=rmap)

    points = [
        spec(1, RegisterMap(10, data_type="float32")),
        spec(2, RegisterMap(12, data_type="int16")),
        spec(3, RegisterMap(14)),  # a gap at 13: a new block
        spec(4, RegisterMap(12, function="input")),
        spec(5, RegisterMap(13, function="input")),
    ]
    blocks = plan_reads(points)
    assert [(b.function, b.start, b.count, len(b.members)) for b in blocks] == [
        ("holding", 10, 3, 2),
        ("holding", 14, 1, 1),
        ("input", 12, 2, 2),
    ]
    assert max(b.count for b in plan_reads(all_t3_points())) <= 125


async def test_generic_register_maps(t3_sim: T3ModbusSimulator, settings: Settings) -> None:
    def words(fmt: str, value: float) -> list[int]:
        packed = struct.pack(f">{fmt}", value)
        return [int.from_bytes(packed[i : i + 2], "big") for i in range(0, len(packed), 2)]

    await t3_sim.set_registers(2, 9000, words("f", 230.25))  # float32, high word first
    await t3_sim.set_registers(2, 9002, words("f", -1.5)[::-1])  # float32, low word first
    await t3_sim.set_registers(2, 9004, words("h", -1234))  # int16, scale 0.1
    await t3_sim.set_registers(2, 100, words("f", 49.75)[::-1], function="input")
    maps = {
        PointRef(2, PointType.INPUT, 1): ({"register": 9000, "data_type": "float32"}, 230.25),
        PointRef(2, PointType.INPUT, 2): (
            {"register": 9002, "data_type": "float32", "word_order": "little"},
            -1.5,
        ),
        PointRef(2, PointType.INPUT, 3): ({"register": 9004, "data_type": "int16", "scale": 0.1}, -123.4),
        PointRef(2, PointType.INPUT, 4): (
            {"register": 100, "function": "input", "data_type": "float32", "word_order": "little"},
            49.75,
        ),
    }
    points = [PointSpec(ref, register_map=RegisterMap.from_options(opts)) for ref, (opts, _) in maps.items()]
    async with modbus(t3_sim, settings, unit=2) as driver:
        values = (await driver.read_points(points)).values
    assert values == {ref: expected for ref, (_, expected) in maps.items()}
    assert t3_sim.requests == {3: 1, 4: 1}  # three contiguous holding registers in one request


async def test_writes_use_fc16_and_round_trip(t3_sim: T3ModbusSimulator, settings: Settings) -> None:
    t3_point = PointSpec(PointRef(1, PointType.OUTPUT, 5))
    float_point = PointSpec(
        PointRef(1, PointType.VARIABLE, 1),
        register_map=RegisterMap(9100, data_type="float32", word_order="little"),
    )
    async with modbus(t3_sim, settings) as driver:
        await driver.write_point(t3_point, -42.125)
        await driver.write_point(float_point, 17.5)
        # the T3 point: its auto/manual switch read (FC03), set to manual, then the value; the mapped one: the value
        assert (t3_sim.requests[3], t3_sim.requests[16]) == (1, 3)
        assert await t3_sim.registers(1, t3_registers.auto_manual_register(PointType.OUTPUT, 5), 1) == [1]
        assert await t3_sim.value(1, PointType.OUTPUT, 5) == -42.125
        assert (await driver.read_points([t3_point, float_point])).values == {
            t3_point.ref: -42.125,
            float_point.ref: 17.5,
        }


async def test_a_written_input_is_not_overwritten_by_the_simulation(
    t3_sim: T3ModbusSimulator, settings: Settings
) -> None:
    point = PointSpec(PointRef(1, PointType.INPUT, 7))
    async with modbus(t3_sim, settings) as driver:
        await driver.write_point(point, 99.5)
        await t3_sim.update_once()
        assert (await driver.read_points([point])).values == {point.ref: 99.5}


async def test_bad_points_fail_alone_before_any_request(t3_sim: T3ModbusSimulator, settings: Settings) -> None:
    monitor = PointSpec(PointRef(1, PointType.MONITOR, 1))
    async with modbus(t3_sim, settings) as driver:
        result = await driver.read_points([monitor])
        assert isinstance(result.errors[monitor.ref], ValidationError) and result.values == {}
        with pytest.raises(ValidationError):
            await driver.write_point(
                PointSpec(PointRef(1, PointType.INPUT, 1), register_map=RegisterMap(1, "input")), 1
            )
        with pytest.raises(ValidationError):
            await driver.write_point(PointSpec(PointRef(1, PointType.INPUT, 1)), 3e6)
    assert t3_sim.request_count == 0


async def test_unknown_unit_id_is_an_answer_an_error_for_each_point(
    t3_sim: T3ModbusSimulator, settings: Settings
) -> None:
    async with modbus(t3_sim, settings, unit=9) as driver:
        result = await driver.read_points(all_t3_points()[:2])
    assert result.no_answer is None and result.values == {}
    errors = list(result.errors.values())
    assert len(errors) == 2 and not any(isinstance(error, DeviceTimeout) for error in errors)
    for part in ("unit 9", "function 3", "address 7100", "exception 4"):
        assert part in str(errors[0])
    assert t3_sim.requests[3] == 1  # an answer, even an exception, is not retried (nor split: not exception 2)


async def test_illegal_address_is_the_points_own_error(t3_sim: T3ModbusSimulator, settings: Settings) -> None:
    # The simulator defines the whole T3 map (0..33499); beyond it pymodbus answers exception 2.
    point = PointSpec(PointRef(1, PointType.INPUT, 1), register_map=RegisterMap(40000, "holding", "int32"))
    async with modbus(t3_sim, settings) as driver:
        result = await driver.read_points([point])
    assert isinstance(result.errors[point.ref], DeviceError) and result.no_answer is None
    assert "address 40000, count 2: Modbus exception 2 (illegal data address)" in str(result.errors[point.ref])


async def test_a_mixed_block_gives_its_good_registers_and_remembers_the_bad_ones(
    t3_sim: T3ModbusSimulator, settings: Settings
) -> None:
    # VARIABLE 1..8 are registers 8092..8107: one block. The device lacks VARIABLE 3 and VARIABLE 6.
    points = [PointSpec(PointRef(1, PointType.VARIABLE, n)) for n in range(1, 9)]
    for number in range(1, 9):
        await t3_sim.set_value(1, PointType.VARIABLE, number, number * 1.5)
    t3_sim.remove_point(1, PointType.VARIABLE, 3)
    t3_sim.remove_point(1, PointType.VARIABLE, 6)
    bad = {points[2].ref, points[5].ref}
    async with modbus(t3_sim, settings) as driver:
        first = await driver.read_points(points)
        assert first.values == {p.ref: p.ref.point_number * 1.5 for p in points if p.ref not in bad}
        assert set(first.errors) == bad and first.no_answer is None
        assert all("Modbus exception 2 (illegal data address)" in str(first.errors[ref]) for ref in bad)
        # the block 1..8, then halves until each bad point stands alone: 1..4, 1..2, 3..4, 3, 4, 5..8, 5..6, 5, 6, 7..8
        assert t3_sim.requests[3] == 11
        assert t3_sim.refused == 7  # 1..8, 1..4, 3..4, 3, 5..8, 5..6, 6
        assert set(driver.lacking()) == bad

        again = await driver.read_points(points)  # the finding is kept: the bad points are not asked again
        assert again.values == first.values and set(again.errors) == bad
        assert t3_sim.requests[3] == 11 + 3  # 1..2, 4..5, 7..8
        assert t3_sim.refused == 7  # no new refusal

        t3_sim.restore_point(1, PointType.VARIABLE, 3)
        assert set((await driver.read_points(points)).errors) == bad  # still remembered: nothing changed here
        edited = [replace(p, revision=1) if p.ref == points[2].ref else p for p in points]
        after_edit = await driver.read_points(edited)  # the point changed: asked again, and it is there now
        assert after_edit.values[points[2].ref] == 4.5 and set(after_edit.errors) == {points[5].ref}


async def test_a_refused_write_names_the_devices_reason(t3_sim: T3ModbusSimulator, settings: Settings) -> None:
    t3_sim.refuse_writes(1, PointType.VARIABLE, 8)
    await t3_sim.set_value(1, PointType.VARIABLE, 8, 20.0)
    async with modbus(t3_sim, settings) as driver:
        with pytest.raises(DeviceError) as info:
            await driver.write_point(PointSpec(PointRef(1, PointType.VARIABLE, 8)), 3.0)
        assert not isinstance(info.value, DeviceTimeout)
        assert "refused write multiple registers (function 16) at address 8106" in str(info.value)
        assert "Modbus exception 2 (illegal data address)" in str(info.value)
        await driver.write_point(PointSpec(PointRef(1, PointType.VARIABLE, 7)), 3.0)  # its neighbour: fine
    assert await t3_sim.value(1, PointType.VARIABLE, 8) == 20.0
    assert await t3_sim.value(1, PointType.VARIABLE, 7) == 3.0
    # VARIABLE 8: manual, the refused value (not retried), back to auto; VARIABLE 7: manual, the value
    assert t3_sim.requests[16] == 3 + 2
    manual = [
        await t3_sim.registers(1, t3_registers.auto_manual_register(PointType.VARIABLE, n), 1) for n in (8, 7)
    ]
    assert manual == [[0], [1]]


async def test_paused_device_times_out_then_recovers(
    t3_sim: T3ModbusSimulator, settings: Settings, policy: RetryPolicy
) -> None:
    points = all_t3_points()[:4]
    async with modbus(t3_sim, settings) as driver:
        await driver.read_points(points)
        t3_sim.pause()
        before = t3_sim.requests[3]
        started = time.monotonic()
        silent = await driver.read_points(points)
        elapsed = time.monotonic() - started
        assert silent.no_answer is not None and "did not answer" in str(silent.no_answer)
        assert silent.values == {} and set(silent.errors) == {p.ref for p in points}
        assert t3_sim.requests[3] - before == policy.retries + 1
        # timeout x (retries + 1) plus the short backoffs; the slack is for a loaded test machine
        assert policy.timeout * (policy.retries + 1) * 0.9 <= elapsed <= policy.worst_case + 1.0
        t3_sim.resume()
        assert len((await driver.read_points(points)).values) == 4


async def test_driver_reconnects_after_the_device_drops_the_connection(
    t3_sim: T3ModbusSimulator, settings: Settings
) -> None:
    points = all_t3_points()[:2]
    async with modbus(t3_sim, settings) as driver:
        await driver.read_points(points)
        t3_sim.disconnect_clients()
        assert len((await driver.read_points(points)).values) == 2
        assert driver.link.connects == 2


async def test_unreachable_device_is_a_timeout(settings: Settings) -> None:
    async with T3ModbusSimulator(units=[1], update_interval=None) as sim:
        port = sim.port  # free now that the simulator has stopped
    conn = DeviceConnection("modbus", "127.0.0.1", port)
    async with open_driver(conn, settings, backoff_base=BACKOFF) as driver:
        result = await driver.read_points(all_t3_points()[:1])
    assert isinstance(result.no_answer, DeviceTimeout) and "cannot connect" in str(result.no_answer)


async def test_units_on_one_host_share_one_connection(t3_sim: T3ModbusSimulator, settings: Settings) -> None:
    await t3_sim.set_value(1, PointType.INPUT, 1, 1.5)
    await t3_sim.set_value(2, PointType.INPUT, 1, 2.5)
    async with DriverManager(settings, backoff_base=BACKOFF) as manager:
        unit1 = manager.open(DeviceConnection("modbus", t3_sim.host, t3_sim.port, unit_id=1))
        unit2 = manager.open(DeviceConnection("modbus", t3_sim.host, t3_sim.port, unit_id=2))
        results = await asyncio.gather(*(d.read_points(all_t3_points(1)) for d in (unit1, unit2, unit1, unit2)))
        assert [r.values[PointRef(1, PointType.INPUT, 1)] for r in results] == [1.5, 2.5, 1.5, 2.5]
        assert len(manager.links) == 1
        link = next(iter(manager.links.values()))
        assert link.connects == 1
        assert link.requests_sent == 4 * 7
        await unit1.close()  # a shared link stays open for the other unit
        assert len((await unit2.read_points(all_t3_points(2)[:1])).values) == 1


async def test_simulator_animates_inputs_over_time() -> None:
    now = [1_000_000.0]
    async with T3ModbusSimulator(units=[3], update_interval=None, clock=lambda: now[0]) as sim:
        await sim.set_value(3, PointType.INPUT, 2, 5.0)
        first = await sim.value(3, PointType.INPUT, 1)
        now[0] += 3600
        await sim.update_once()
        assert await sim.value(3, PointType.INPUT, 1) != first
        assert await sim.value(3, PointType.INPUT, 2) == 5.0  # pinned by set_value
        assert await sim.registers(3, 6, 1) == [3]  # the Modbus address register holds the unit id


async def test_simulator_background_task_updates_inputs() -> None:
    now = [1_000_000.0]
    async with T3ModbusSimulator(units=[1], update_interval=0.01, clock=lambda: now[0]) as sim:
        await sim.update_once()
        first = await sim.value(1, PointType.INPUT, 1)
        now[0] += 3600
        await asyncio.wait_for(sim.next_update(), timeout=5)
        assert await sim.value(1, PointType.INPUT, 1) != first
