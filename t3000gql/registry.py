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
from dataclasses import asdict, dataclass
from typing import Any, Literal

from t3000gql.collect.service import Collection
from t3000gql.domain.audit import SYSTEM, Actor
from t3000gql.domain.inputs import DeviceInput, PointInput, TrendLogInput, check_device
from t3000gql.domain.points import PointRef
from t3000gql.domain.stations import StationInput
from t3000gql.ingest.stations import StationService
from t3000gql.storage.audit import AuditNote
from t3000gql.storage.points import check_points
from t3000gql.storage.records import Device, MonitoringPoint, TrendLog
from t3000gql.storage.stations import Station, StationWritten
from t3000gql.storage.store import Store
from t3000gql.storage.transaction import Transaction, transaction

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

    async def upsert_device(self, data: DeviceInput, actor: Actor = SYSTEM) -> Device:
        """Creates the device or changes the fields given; a station's device renamed renames the station."""
        check_device(data)  # before the write lock: bad input is refused even while the database is busy
        async with transaction(self._store.db) as tx:
            before = await self._store.devices.get_in(tx, data.device_id)
            device = await self._store.devices.upsert_in(tx, data)
            await self._audit_in(
                tx,
                actor,
                "create_device" if before is None else "update_device",
                device.device_id,
                None,
                changes(before, device),
            )
        await self._collection.devices_changed()  # (de)activated: its trend logs are (un)scheduled
        self._publish(RegistryChange("device", (device.device_id,)))
        return device

    async def delete_device(self, device_id: int, actor: Actor = SYSTEM) -> bool:
        """Deletes the device with its points, trend logs, cached values and history; False if there was none.
        The audit entry says how many samples went with it."""
        async with transaction(self._store.db) as tx:
            before = await self._store.devices.get_in(tx, device_id)
            if before is not None:
                point_ids = await self._store.points.ids_of_device_in(tx, device_id)
                samples = await self._store.history.count_in(tx.conn, point_ids)
                await self._audit_in(
                    tx,
                    actor,
                    "delete_device",
                    device_id,
                    None,
                    {
                        "device_name": before.device_name,
                        "device_type": before.device_type,
                        "points": len(point_ids),
                        "samples": samples,
                    },
                )
            deleted = await self._store.devices.delete_in(tx, device_id)
        if deleted:
            await self._collection.devices_changed()  # its trend logs went with it
            self._publish(RegistryChange("device", (device_id,), deleted=True))
        return deleted

    # --- points -----------------------------------------------------------------------------------------------

    async def upsert_points(
        self, device_id: int, points: list[PointInput], actor: Actor = SYSTEM
    ) -> PointsWritten:
        """Creates or changes points of one device, all or nothing (one audit entry per point)."""
        check_points(points)  # before the write lock
        async with transaction(self._store.db) as tx:
            before = {point.ref: point for point in await self._store.points.list_in(tx, device_id)}
            stored, inserted, updated = await self._store.points.upsert_in(tx, device_id, points)
            for point in stored:
                old = before.get(point.ref)
                await self._audit_in(
                    tx,
                    actor,
                    "create_point" if old is None else "update_point",
                    device_id,
                    point.ref,
                    changes(old, point),
                )
        self._publish(RegistryChange("point", (device_id,)))
        return PointsWritten(stored, inserted, updated)

    async def delete_point(self, ref: PointRef, actor: Actor = SYSTEM) -> bool:
        """Deletes a point with its cached value and history; False if there was none."""
        async with transaction(self._store.db) as tx:
            before = await self._store.points.get_in(tx, ref)
            if before is not None:
                samples = await self._store.history.count_in(tx.conn, [before.id])
                await self._audit_in(
                    tx,
                    actor,
                    "delete_point",
                    ref.device_id,
                    ref,
                    {"point_name": before.point_name, "samples": samples},
                )
            deleted = await self._store.points.delete_in(tx, ref) is not None
        if deleted:
            self._publish(RegistryChange("point", (ref.device_id,), deleted=True))
        return deleted

    # --- trend logs -------------------------------------------------------------------------------------------

    async def trend_log(self, trend_log_id: int) -> TrendLog:
        """The trend log, or NOT_FOUND."""
        return await self._store.trend_logs.require(trend_log_id)

    async def upsert_trend_log(self, device_id: int, data: TrendLogInput, actor: Actor = SYSTEM) -> TrendLog:
        """Creates a trend log (no id) or changes one; its schedule follows at the next tick."""
        async with transaction(self._store.db) as tx:
            before = None if data.id is None else await self._store.trend_logs.get_in(tx, data.id)
            trend_log = await self._store.trend_logs.upsert_in(tx, device_id, data)
            await self._audit_in(
                tx,
                actor,
                "create_trend_log" if before is None else "update_trend_log",
                device_id,
                None,
                {"trend_log_id": trend_log.id, **changes(before, trend_log)},
            )
        await self._collection.trend_log_changed(trend_log.id)
        self._publish(RegistryChange("trend_log", (device_id,)))
        return trend_log

    async def delete_trend_log(self, trend_log_id: int, actor: Actor = SYSTEM) -> bool:
        """Deletes a trend log (its samples stay); False if there was none."""
        async with transaction(self._store.db) as tx:
            trend_log = await self._store.trend_logs.get_in(tx, trend_log_id)
            if trend_log is None or not await self._store.trend_logs.delete_in(tx, trend_log_id):
                return False
            await self._audit_in(
                tx,
                actor,
                "delete_trend_log",
                trend_log.device_id,
                None,
                {"trend_log_id": trend_log_id, "trend_log_name": trend_log.trend_log_name},
            )
        await self._collection.trend_log_changed(trend_log_id)
        self._publish(RegistryChange("trend_log", (trend_log.device_id,), deleted=True))
        return True

    # --- stations ---------------------------------------------------------------------------------------------

    async def create_station(self, data: StationInput, actor: Actor = SYSTEM) -> Station:
        """Creates a station with its device and ten channel points (no schedule: it has no trend logs)."""
        station = await self._stations.create_station(data, then=self._station_audit(actor))
        self._publish(RegistryChange("station", (station.device_id,)))
        return station

    async def upsert_station(self, data: StationInput, actor: Actor = SYSTEM) -> Station:
        """Creates the station or changes the one with that device id (if given) or name."""
        station = await self._stations.upsert_station(data, then=self._station_audit(actor))
        self._publish(RegistryChange("station", (station.device_id,)))
        return station

    async def delete_station(self, device_id: int, actor: Actor = SYSTEM) -> bool:
        """Deletes a station with its device, channels and readings; False if there was none."""

        async def audit(tx: Transaction, station: Station) -> None:
            point_ids = await self._store.points.ids_of_device_in(tx, device_id)
            samples = await self._store.history.count_in(tx.conn, point_ids)
            await self._audit_in(
                tx, actor, "delete_station", device_id, None, {"name": station.name, "samples": samples}
            )

        deleted = await self._stations.delete_station(device_id, before=audit)
        if deleted:
            await self._collection.devices_changed()  # trend logs of its device went with it
            self._publish(RegistryChange("station", (device_id,), deleted=True))
        return deleted

    # --- the audit trail --------------------------------------------------------------------------------------

    async def _audit_in(
        self,
        tx: Transaction,
        actor: Actor,
        operation: str,
        device_id: int,
        ref: PointRef | None,
        detail: dict[str, Any],
    ) -> None:
        note = AuditNote(
            operation,
            actor,
            device_id=device_id,
            point_type=None if ref is None else int(ref.point_type),
            point_number=None if ref is None else ref.point_number,
            source="registry",
            detail=detail,
        )
        await self._store.audit.record_in(tx.conn, [note], now_ms=self._store.clock())

    def _station_audit(self, actor: Actor) -> StationWritten:
        async def audit(tx: Transaction, before: Station | None, after: Station) -> None:
            operation = "create_station" if before is None else "update_station"
            await self._audit_in(tx, actor, operation, after.device_id, None, changes(before, after))

        return audit


_UNAUDITED = frozenset({"created_at", "updated_at", "online", "last_seen", "id"})


def changes(before: object | None, after: object) -> dict[str, Any]:
    """What a registry change did to a record, for its audit entry: every field of a new record, or the fields
    that changed as [old, new]."""
    new = {name: value for name, value in asdict(after).items() if name not in _UNAUDITED}  # type: ignore[call-overload]
    if before is None:
        return {"created": new}
    old = asdict(before)  # type: ignore[call-overload]
    return {"changed": {name: [old.get(name), value] for name, value in new.items() if old.get(name) != value}}
