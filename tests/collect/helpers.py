"""Building devices, points and trend logs for collection tests, and waiting on collection events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from t3000gql.collect.collector import RunEvent
from t3000gql.collect.health import StatusListener
from t3000gql.collect.simulators.t3_modbus import T3ModbusSimulator
from t3000gql.domain.faults import Fault, PointFault
from t3000gql.domain.inputs import DeviceInput, PointInput, TrendLogInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.live.events import DeviceStatus
from t3000gql.storage.records import TrendLog
from t3000gql.storage.store import Store

WAIT = 15.0
"""Upper bound of every wait on an event: a broken test fails after this instead of hanging."""


async def add_t3(
    store: Store,
    device_id: int,
    sim: T3ModbusSimulator,
    unit: int,
    points: Sequence[tuple[PointType, int]],
    **point_fields: Any,
) -> list[PointRef]:
    await store.devices.upsert(
        DeviceInput(
            device_id,
            device_name=f"T3 {device_id}",
            device_type="T3-BB",
            protocol="modbus",
            ip_address=sim.host,
            port=sim.port,
            modbus_unit_id=unit,
        )
    )
    created, _, _ = await store.points.upsert(
        device_id, [PointInput(point_type, number, **point_fields) for point_type, number in points]
    )
    return [point.ref for point in created]


async def add_trend_log(
    store: Store, device_id: int, refs: Sequence[PointRef], interval: int = 1, name: str = "log"
) -> TrendLog:
    return await store.trend_logs.upsert(
        device_id, TrendLogInput(trend_log_name=name, interval_seconds=interval, points=tuple(refs))
    )


def fourteen_points() -> list[tuple[PointType, int]]:
    return (
        [(PointType.INPUT, n) for n in range(1, 7)]
        + [(PointType.OUTPUT, n) for n in range(1, 5)]
        + [(PointType.VARIABLE, n) for n in range(1, 5)]
    )


class Recorder:
    """Collects what a listener hears; tests await a condition on it with a bounded wait, never a sleep."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, *event: Any) -> None:
        self.events.append(event[0] if len(event) == 1 else event)
        self._changed.set()

    async def wait_for(self, condition: Callable[[list[Any]], bool], within: float = WAIT) -> None:
        async with asyncio.timeout(within):
            while not condition(self.events):
                self._changed.clear()
                await self._changed.wait()


def status_listener(recorder: Recorder) -> StatusListener:
    """A `DeviceHealth` listener that records each status as the live bus would carry it."""

    def listen(
        device_id: int,
        online: bool,
        at_ms: int,
        *,
        fault: Fault | None = None,
        failing: tuple[PointFault, ...] = (),
    ) -> None:
        recorder(DeviceStatus(device_id, online, at_ms, fault, failing))

    return listen


def statuses(events: list[Any]) -> list[DeviceStatus]:
    return [e for e in events if isinstance(e, DeviceStatus)]


def runs(events: list[Any], outcome: str, trend_log_id: int | None = None) -> list[RunEvent]:
    return [
        e
        for e in events
        if isinstance(e, RunEvent)
        and e.outcome == outcome
        and (trend_log_id is None or e.trend_log_id == trend_log_id)
    ]
