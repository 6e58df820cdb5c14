"""The registry service: changes to what a site is made of (devices, their points, trend logs, stations).

Every such change takes the same three steps, here and nowhere else, so no caller has to remember them:

1. write, through the owner of each table (storage/; docs/architecture.md lists the owners);
2. reschedule collection where the schedule can change: the collector samples the active trend logs of active
   devices, so device, trend-log and station-deletion changes reschedule at once (a point change needs
   nothing: every run reads its trend log's points afresh);
3. publish the change to whoever keeps something about it in memory: the station service (whose stations a
   device or point change can rename or delete) and any listener added with `on_change`.

The API calls this for every registry change and for its reads of the registry; it never calls the
repositories behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from t3000gql.collect.service import Collection
from t3000gql.domain.inputs import DeviceInput, PointInput, TrendLogInput
from t3000gql.domain.points import PointRef
from t3000gql.domain.stations import StationInput
from t3000gql.ingest.stations import StationService
from t3000gql.storage.records import Device, MonitoringPoint, TrendLog
from t3000gql.storage.stations import Station
from t3000gql.storage.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RegistryChange:
    """What changed (a device, points, a trend log or a station), of which devices, and whether it went."""

    kind: Literal["device", "point", "trend_log", "station"]
    device_ids: tuple[int, ...]
    deleted: bool = False


RegistryListener = Callable[[RegistryChange], None]


@dataclass(frozen=True, slots=True)
class PointsWritten:
    points: list[MonitoringPoint]
    """The points as stored, in the order given."""
    inserted: int
    updated: int


class Registry:
    def __init__(self, store: Store, collection: Collection, stations: StationService) -> None:
        self._store = store
        self._collection = collection
        self._stations = stations
        self._listeners: list[RegistryListener] = [self._tell_stations]

    def on_change(self, listener: RegistryListener) -> None:
        """`listener(change)` after each committed change, once collection was rescheduled."""
        self._listeners.append(listener)

    def _publish(self, change: RegistryChange) -> None:
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                log.exception("a registry-change listener failed on %s", change)

    def _tell_stations(self, change: RegistryChange) -> None:
        # A station change went through the station service, which keeps its own records; a device or point
        # change may have renamed, readdressed or deleted a station behind its back.
        if change.kind in ("device", "point"):
            self._stations.devices_changed(change.device_ids)

    # --- devices ----------------------------------------------------------------------------------------------

    async def devices(self, *, is_active: bool | None = None, device_type: str | None = None) -> list[Device]:
        return await self._store.devices.list(is_active=is_active, device_type=device_type)

    async def upsert_device(self, data: DeviceInput) -> Device:
        """Creates the device or changes the fields given; a station's device renamed renames the station."""
        device = await self._store.devices.upsert(data)
        await self._collection.devices_changed()  # (de)activated: its trend logs are (un)scheduled
        self._publish(RegistryChange("device", (device.device_id,)))
        return device

    async def delete_device(self, device_id: int) -> bool:
        """Deletes the device with its points, trend logs, cached values and history; False if there was none."""
        deleted = await self._store.devices.delete(device_id)
        if deleted:
            await self._collection.devices_changed()  # its trend logs went with it
            self._publish(RegistryChange("device", (device_id,), deleted=True))
        return deleted

    # --- points -----------------------------------------------------------------------------------------------

    async def upsert_points(self, device_id: int, points: list[PointInput]) -> PointsWritten:
        """Creates or changes points of one device, all or nothing."""
        stored, inserted, updated = await self._store.points.upsert(device_id, points)
        self._publish(RegistryChange("point", (device_id,)))
        return PointsWritten(stored, inserted, updated)

    async def delete_point(self, ref: PointRef) -> bool:
        """Deletes a point with its cached value and history; False if there was none."""
        deleted = await self._store.points.delete(ref) is not None
        if deleted:
            self._publish(RegistryChange("point", (ref.device_id,), deleted=True))
        return deleted

    # --- trend logs -------------------------------------------------------------------------------------------

    async def trend_log(self, trend_log_id: int) -> TrendLog:
        """The trend log, or NOT_FOUND."""
        return await self._store.trend_logs.require(trend_log_id)

    async def upsert_trend_log(self, device_id: int, data: TrendLogInput) -> TrendLog:
        """Creates a trend log (no id) or changes one; its schedule follows at the next tick."""
        trend_log = await self._store.trend_logs.upsert(device_id, data)
        await self._collection.trend_log_changed(trend_log.id)
        self._publish(RegistryChange("trend_log", (device_id,)))
        return trend_log

    async def delete_trend_log(self, trend_log_id: int) -> bool:
        """Deletes a trend log (its samples stay); False if there was none."""
        trend_log = await self._store.trend_logs.get(trend_log_id)
        if trend_log is None or not await self._store.trend_logs.delete(trend_log_id):
            return False
        await self._collection.trend_log_changed(trend_log_id)
        self._publish(RegistryChange("trend_log", (trend_log.device_id,), deleted=True))
        return True

    # --- stations ---------------------------------------------------------------------------------------------

    async def create_station(self, data: StationInput) -> Station:
        """Creates a station with its device and ten channel points (no schedule: it has no trend logs)."""
        station = await self._stations.create_station(data)
        self._publish(RegistryChange("station", (station.device_id,)))
        return station

    async def upsert_station(self, data: StationInput) -> Station:
        """Creates the station or changes the one with that device id (if given) or name."""
        station = await self._stations.upsert_station(data)
        self._publish(RegistryChange("station", (station.device_id,)))
        return station

    async def delete_station(self, device_id: int) -> bool:
        """Deletes a station with its device, channels and readings; False if there was none."""
        deleted = await self._stations.delete_station(device_id)
        if deleted:
            await self._collection.devices_changed()  # trend logs of its device went with it
            self._publish(RegistryChange("station", (device_id,), deleted=True))
        return deleted
