"""`serve --demo`: a small T3 site on an in-process Modbus simulator, registered through the repositories.

Three controllers (Modbus units 1-3 behind one simulator on 127.0.0.1, a free port) with named inputs,
outputs and variables in proper units, and trend logs of 5 to 60 s. Collection then reads them through the
real Modbus driver, so a new user sees live, changing values and growing history.

Everything is an upsert: running the demo again on the same database updates the devices' port (a new free
port each run) and finds its points and trend logs again by number and by name instead of adding copies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from t3000gql.collect.drivers.simulated import input_kind
from t3000gql.domain.inputs import DeviceInput, PointInput, TrendLogInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.storage.store import Store

if TYPE_CHECKING:
    from t3000gql.collect.simulators.t3_modbus import T3ModbusSimulator

log = logging.getLogger(__name__)

SEED = 0
HOST = "127.0.0.1"
ON_OFF = 101  # digital range OFF/ON


@dataclass(frozen=True, slots=True)
class DemoController:
    device_id: int
    unit_id: int
    name: str


CONTROLLERS = (
    DemoController(9001, 1, "Demo AHU-1 (air handler)"),
    DemoController(9002, 2, "Demo VAV zone 2nd floor"),
    DemoController(9003, 3, "Demo plant room"),
)
# What each kind of simulated input measures: (name, T3000 unit code)
INPUT_NAMES = {
    "temperature": ("Temperature", 1),  # degC
    "humidity": ("Humidity", 23),  # RH
    "co2": ("CO2", 24),  # ppm
    "pressure": ("Pressure", 4),  # Pa
}
INPUTS = 6
OUTPUTS = (("Valve", 22), ("Damper", 22), ("Fan", ON_OFF), ("Pump", ON_OFF))  # % or OFF/ON
VARIABLES = (("Setpoint day", 1), ("Setpoint night", 1), ("CO2 limit", 24))


def demo_points(controller: DemoController) -> list[PointInput]:
    points = []
    for number in range(1, INPUTS + 1):
        # The simulator's waveform of this input decides what it is, so a "Temperature" shows degrees.
        kind = input_kind(SEED, PointRef(controller.unit_id, PointType.INPUT, number))
        name, unit = INPUT_NAMES[kind]
        points.append(
            PointInput(
                PointType.INPUT,
                number,
                point_name=f"{name} {number}",
                description=f"{name} sensor {number} of {controller.name}",
                unit_code=unit,
            )
        )
    for number, (name, unit) in enumerate(OUTPUTS, start=1):
        points.append(
            PointInput(
                PointType.OUTPUT,
                number,
                point_name=f"{name} {number}",
                unit_code=unit,
                data_type="BOOLEAN" if unit == ON_OFF else "REAL",
            )
        )
    for number, (name, unit) in enumerate(VARIABLES, start=1):
        points.append(PointInput(PointType.VARIABLE, number, point_name=name, unit_code=unit))
    return points


def demo_trend_logs(device_id: int) -> list[TrendLogInput]:
    def refs(point_type: PointType, count: int) -> tuple[PointRef, ...]:
        return tuple(PointRef(device_id, point_type, n) for n in range(1, count + 1))

    return [
        TrendLogInput(trend_log_name="Inputs every 5 s", interval_seconds=5, points=refs(PointType.INPUT, INPUTS)),
        TrendLogInput(
            trend_log_name="Outputs every 15 s", interval_seconds=15, points=refs(PointType.OUTPUT, len(OUTPUTS))
        ),
        TrendLogInput(
            trend_log_name="Setpoints every 60 s",
            interval_seconds=60,
            points=refs(PointType.VARIABLE, len(VARIABLES)),
        ),
    ]


async def register_demo_site(store: Store, port: int) -> None:
    """Creates or updates the demo devices (at `port`), their points and trend logs."""
    for controller in CONTROLLERS:
        await store.devices.upsert(
            DeviceInput(
                controller.device_id,
                device_name=controller.name,
                device_type="T3-BB",
                protocol="modbus",
                ip_address=HOST,
                port=port,
                modbus_unit_id=controller.unit_id,
                is_active=True,
            )
        )
        await store.points.upsert(controller.device_id, demo_points(controller))
        existing = {log.trend_log_name: log.id for log in await store.trend_logs.list(controller.device_id)}
        for data in demo_trend_logs(controller.device_id):
            trend_log_id = existing.get(str(data.trend_log_name))
            if trend_log_id is not None:
                data = TrendLogInput(
                    id=trend_log_id,
                    trend_log_name=data.trend_log_name,
                    interval_seconds=data.interval_seconds,
                    points=data.points,
                    is_active=True,
                )
            await store.trend_logs.upsert(controller.device_id, data)


class DemoSite:
    """The simulator and the registered site, started in the lifespan and stopped with it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.simulator: T3ModbusSimulator | None = None

    async def start(self) -> None:
        from t3000gql.collect.simulators.t3_modbus import T3ModbusSimulator

        simulator = T3ModbusSimulator(
            units=[c.unit_id for c in CONTROLLERS], host=HOST, port=0, seed=SEED, update_interval=1.0
        )
        await simulator.start()
        self.simulator = simulator
        try:
            await register_demo_site(self._store, simulator.port)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "demo site: %s controllers on the T3 Modbus simulator at %s:%s",
            len(CONTROLLERS),
            HOST,
            simulator.port,
        )

    async def stop(self) -> None:
        if self.simulator is not None:
            simulator, self.simulator = self.simulator, None
            await simulator.stop()
