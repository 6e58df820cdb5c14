"""DataLoaders: one batched read per kind of thing per level of a query, whatever the number of parents.

They are created per request (`Context.create`), so nothing is cached across requests. A batch function
answers every key: None (or an empty list) for what does not exist, an exception in place for a key that fails,
so one bad key never fails its neighbours.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

from strawberry.dataloader import DataLoader

from t3000gql.api.history_reads import HistoryArgs, read_history, too_many
from t3000gql.api.limits import HistoryBudget
from t3000gql.domain.commands import CommandState
from t3000gql.domain.faults import Fault
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import CurrentValue
from t3000gql.errors import T3000Error, ValidationError
from t3000gql.ingest.readings import PowerReading
from t3000gql.services import Services
from t3000gql.storage.history import Series
from t3000gql.storage.records import Device, MonitoringPoint, TrendLog
from t3000gql.storage.stations import Station


class CurrentRead(NamedTuple):
    """A point's current value (None when nothing is known) and the device error that kept it from being
    refreshed, if one did (also as a `Fault`): a stale value and a DEVICE_TIMEOUT can come together."""

    value: CurrentValue | None
    error: T3000Error | None
    fault: Fault | None


@dataclass(frozen=True, slots=True)
class PointsOf:
    """The points of one device, filtered as `Device.points(pointType, isActive)` asks."""

    device_id: int
    point_type: PointType | None = None
    is_active: bool | None = None


@dataclass(frozen=True, slots=True)
class HistoryKey:
    point_id: int
    args: HistoryArgs


class Loaders:
    """Each loader is made on first use: most requests need one or two of them."""

    def __init__(self, services: Services, budget: HistoryBudget | None = None) -> None:
        self._services = services
        self._store = services.store
        self._budget = budget or HistoryBudget(services.settings.api_max_history_samples)

    @cached_property
    def device(self) -> DataLoader[int, Device | None]:
        return DataLoader(self._devices)

    @cached_property
    def points_of(self) -> DataLoader[PointsOf, list[MonitoringPoint]]:
        return DataLoader(self._points_of)

    @cached_property
    def point_by_ref(self) -> DataLoader[PointRef, MonitoringPoint | None]:
        return DataLoader(self._points_by_ref)

    @cached_property
    def point_by_id(self) -> DataLoader[int, MonitoringPoint | None]:
        return DataLoader(self._points_by_id)

    @cached_property
    def trend_logs_of(self) -> DataLoader[int, list[TrendLog]]:
        return DataLoader(self._trend_logs_of)

    @cached_property
    def current(self) -> DataLoader[int, CurrentRead]:
        return DataLoader(self._current, cache=False)

    @cached_property
    def history(self) -> DataLoader[HistoryKey, Series]:
        return DataLoader(self._history)

    @cached_property
    def command_state(self) -> DataLoader[PointRef, CommandState | None]:
        """Priority arrays / auto-manual switches read from devices (once per point and request)."""
        return DataLoader(self._command_states)

    async def _command_states(self, refs: list[PointRef]) -> list[CommandState | Exception | None]:
        answers: list[CommandState | Exception | None] = []
        for ref in refs:
            try:
                answers.append(await self._services.collection.command_state(ref))
            except T3000Error as exc:
                answers.append(exc)
        return answers

    @cached_property
    def latest_reading(self) -> DataLoader[Station, PowerReading | None]:
        return DataLoader(self._latest_readings)

    async def _latest_readings(self, stations: list[Station]) -> list[PowerReading | None]:
        found = await self._services.readings.latest(stations)
        return [found.get(station.device_id) for station in stations]

    async def _devices(self, device_ids: list[int]) -> list[Device | None]:
        found = await self._store.devices.get_many(device_ids)
        return [found.get(device_id) for device_id in device_ids]

    async def _points_of(self, keys: list[PointsOf]) -> list[list[MonitoringPoint]]:
        by_filter: dict[tuple[PointType | None, bool | None], list[int]] = defaultdict(list)
        for key in keys:
            by_filter[(key.point_type, key.is_active)].append(key.device_id)
        found: dict[PointsOf, list[MonitoringPoint]] = {}
        for (point_type, is_active), device_ids in by_filter.items():
            points = await self._store.points.list_for_devices(
                device_ids, point_type=point_type, is_active=is_active
            )
            for device_id, listed in points.items():
                found[PointsOf(device_id, point_type, is_active)] = listed
        return [found[key] for key in keys]

    async def _points_by_ref(self, refs: list[PointRef]) -> list[MonitoringPoint | None]:
        found = await self._store.points.get_many(refs)
        return [found.get(ref) for ref in refs]

    async def _points_by_id(self, point_ids: list[int]) -> list[MonitoringPoint | None]:
        found = await self._store.points.get_by_ids(point_ids)
        return [found.get(point_id) for point_id in point_ids]

    async def _trend_logs_of(self, device_ids: list[int]) -> list[list[TrendLog]]:
        found = await self._store.trend_logs.list_for_devices(device_ids)
        return [found[device_id] for device_id in device_ids]

    async def _current(self, point_ids: list[int]) -> list[CurrentRead]:
        reading = await self._services.collection.read_current(point_ids)
        return [
            CurrentRead(reading.values.get(pid), reading.errors.get(pid), reading.faults.get(pid))
            for pid in point_ids
        ]

    async def _history(self, keys: list[HistoryKey]) -> Sequence[Series | ValidationError]:
        by_args: dict[HistoryArgs, list[int]] = defaultdict(list)
        for key in keys:
            by_args[key.args].append(key.point_id)
        found: dict[HistoryKey, Series | ValidationError] = {}
        max_samples = self._services.settings.api_max_history_samples
        for args, point_ids in by_args.items():
            series = await read_history(self._store, point_ids, args, max_samples=max_samples)
            for point_id, one in series.items():
                found[HistoryKey(point_id, args)] = charge(self._budget, one, args, max_samples)
        return [found[key] for key in keys]


def charge(budget: HistoryBudget, series: Series | ValidationError, args: HistoryArgs, max_samples: int) -> Any:
    """The series when the request's history budget still holds it, else the error that refuses it."""
    if isinstance(series, Series) and not budget.spend(len(series.timestamps)):
        return too_many(args, max_samples, scope="in all history fields of this request together")
    return series
