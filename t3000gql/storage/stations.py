"""Stations: a `devices` row of type power_station, a `stations` row with its identity, and one point per channel,
created and changed together in one transaction so a station never exists without its channels.

The owner of the `stations` table. The device row and the channel points belong to their own owners
(storage/devices.py, storage/points.py): a station is saved by asking each of them to write its rows in one
shared transaction, so the records they keep in memory follow. A station's name is its device's name: renaming
the device (through the device owner, from anywhere) renames the station in the same transaction.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from t3000gql.domain.inputs import UNSET, DeviceInput, PointInput, check_device
from t3000gql.domain.points import PointRef
from t3000gql.domain.stations import (
    CHANNELS,
    STATION_DEVICE_TYPE,
    STATION_ID_FIRST,
    STATION_ID_LAST,
    StationInput,
    channel_refs,
    check_station,
)
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import ConflictError, ValidationError
from t3000gql.storage.connection import Connection
from t3000gql.storage.database import Database
from t3000gql.storage.devices import DeviceRepository
from t3000gql.storage.dialects import Dialect
from t3000gql.storage.points import PointRepository
from t3000gql.storage.records import Device
from t3000gql.storage.transaction import Transaction, transaction


@dataclass(frozen=True, slots=True)
class Station:
    device_id: int
    name: str
    uuid: str
    ip_address: str | None
    scene: str
    websocket_url: str | None
    created_at: int
    updated_at: int
    channel_names: tuple[str, ...]
    """Display name of each channel in channel order (muxPower1..4 default to TV5, MCOT, PRD, TPBS)."""

    @property
    def refs(self) -> tuple[PointRef, ...]:
        return channel_refs(self.device_id)


StationWritten = Callable[["Transaction", "Station | None", "Station"], Awaitable[None]]
"""Runs in a station save's transaction, told the station before (None when new) and after."""


def _select(dialect: Dialect) -> str:
    return (
        "SELECT s.device_id, s.name, s.uuid, d.ip_address, s.scene, s.websocket_url, s.created_at, s.updated_at, "
        f"(SELECT {dialect.json_rows('point_type', 'point_number', 'point_name')} FROM monitoring_points "
        " WHERE device_id = s.device_id) "
        "FROM stations AS s JOIN devices AS d ON d.device_id = s.device_id"
    )


_CHANNEL_POSITION = {(int(c.point_type), c.point_number): i for i, c in enumerate(CHANNELS)}
_CHANNEL_BY_FIELD = {c.field: c for c in CHANNELS}
_DEFAULT_CHANNEL_POINTS = tuple(
    PointInput(
        c.point_type,
        c.point_number,
        point_name=c.default_name,
        description=c.field,
        unit_code=c.unit_code,
        data_type="REAL",
        is_active=True,
        options={},
        writable=False,
    )
    for c in CHANNELS
)
"""Each channel's point as a new station gets it; an existing channel point is left as it is. Not writable:
a station sends its values, nothing commands them."""


def _renamed(field: str, name: str) -> PointInput:
    channel = _CHANNEL_BY_FIELD[field]
    return PointInput(channel.point_type, channel.point_number, point_name=name)


def _station(row: Sequence[Any]) -> Station:
    names = [channel.default_name for channel in CHANNELS]
    for point_type, number, name in json.loads(row[8] or "[]"):
        position = _CHANNEL_POSITION.get((point_type, number))
        if position is not None and name:
            names[position] = name
    return Station(
        device_id=row[0],
        name=row[1],
        uuid=row[2],
        ip_address=row[3],
        scene=row[4],
        websocket_url=row[5],
        created_at=row[6],
        updated_at=row[7],
        channel_names=tuple(names),
    )


class StationRepository:
    def __init__(self, db: Database, devices: DeviceRepository, points: PointRepository, clock: Clock) -> None:
        self._db = db
        self._select = _select(db.dialect)
        self._devices = devices
        self._points = points
        self._clock = clock
        devices.on_written(self._follow_device)

    async def list(self) -> list[Station]:
        rows = await self._db.fetch_all(f"{self._select} ORDER BY s.name")
        return [_station(row) for row in rows]

    async def get(
        self, *, device_id: int | None = None, name: str | None = None, uuid: str | None = None
    ) -> Station | None:
        """The station with that id, name or uuid (exactly one of them must be given)."""
        given = [(column, value) for column, value in (("device_id", device_id), ("name", name), ("uuid", uuid))]
        chosen = [(column, value) for column, value in given if value is not None]
        if len(chosen) != 1:
            raise ValidationError(
                "give exactly one of device_id, name or uuid", field="station", mentions=("device_id",)
            )
        column, value = chosen[0]
        row = await self._db.fetch_one(f"{self._select} WHERE s.{column} = ?", (value,))
        return _station(row) if row else None

    async def create(self, data: StationInput, *, then: StationWritten | None = None) -> Station:
        return await self._save(data, must_be_new=True, then=then)

    async def upsert(self, data: StationInput, *, then: StationWritten | None = None) -> Station:
        """Creates the station, or changes the given fields of the one with that device id (when given) or name.
        `then(tx, before, after)` runs in the same transaction (the audit trail)."""
        return await self._save(data, must_be_new=False, then=then)

    async def _save(self, data: StationInput, *, must_be_new: bool, then: StationWritten | None) -> Station:
        check_station(data)
        if data.ip_address is not UNSET:  # the device owner checks it again; here before the write lock
            check_device(DeviceInput(STATION_ID_FIRST, ip_address=data.ip_address))
        now = self._clock()
        async with transaction(self._db) as tx:
            existing = await self._find_for_save(tx, data)
            if existing is not None and must_be_new:
                raise ConflictError(f"station {data.name!r} already exists (device {existing})")
            await self._check_free(tx.conn, "name", data.name, existing)
            if data.uuid is not UNSET:
                await self._check_free(tx.conn, "uuid", data.uuid, existing)
            before = None if existing is None else await self._get_in(tx, existing)
            if existing is None:
                device_id = await self._insert(tx, data, now)
            else:
                device_id = existing
                await self._update(tx, data, device_id, now)
            await self._points.upsert_in(tx, device_id, _DEFAULT_CHANNEL_POINTS, keep_existing=True)
            if data.channel_names is not UNSET and data.channel_names:
                renames = [_renamed(field, name) for field, name in data.channel_names.items()]
                await self._points.upsert_in(tx, device_id, renames)
            station = await self._get_in(tx, device_id)
            assert station is not None
            if then is not None:
                await then(tx, before, station)
        return station

    async def _get_in(self, tx: Transaction, device_id: int) -> Station | None:
        row = await tx.conn.fetch_one(f"{self._select} WHERE s.device_id = ?", (device_id,))
        return None if row is None else _station(row)

    async def _find_for_save(self, tx: Transaction, data: StationInput) -> int | None:
        if data.device_id is not None:
            device = await self._devices.get_in(tx, data.device_id)
            if device is None:
                return None
            if device.device_type != STATION_DEVICE_TYPE:
                raise ConflictError(f"device {data.device_id} exists and is not a power station")
            return data.device_id
        row = await tx.conn.fetch_one("SELECT device_id FROM stations WHERE name = ?", (data.name,))
        return int(row[0]) if row else None

    async def _check_free(self, conn: Connection, column: str, value: Any, device_id: int | None) -> None:
        """Raises when another station than `device_id` has this name or uuid (`column`)."""
        other = await conn.fetch_one(
            f"SELECT device_id FROM stations WHERE {column} = ? AND device_id IS DISTINCT FROM ?",
            (value, device_id),
        )
        if other is not None:
            raise ConflictError(f"another station (device {other[0]}) already has {column} {value!r}")

    async def _insert(self, tx: Transaction, data: StationInput, now: int) -> int:
        device_id = data.device_id
        if device_id is None:
            device_id = await self._devices.next_free_id_in(tx, STATION_ID_FIRST, STATION_ID_LAST)
            if device_id is None:
                raise ConflictError(f"no free station device id left in {STATION_ID_FIRST}..{STATION_ID_LAST}")
        url = None if data.websocket_url is UNSET else data.websocket_url
        await self._devices.upsert_in(
            tx,
            DeviceInput(
                device_id,
                device_name=data.name,
                device_type=STATION_DEVICE_TYPE,
                ip_address=None if data.ip_address is UNSET else data.ip_address,
                protocol="websocket" if url else "none",
            ),
        )
        await tx.conn.execute(
            "INSERT INTO stations (device_id, name, uuid, scene, websocket_url, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                device_id,
                data.name,
                str(uuidlib.uuid4()) if data.uuid is UNSET else data.uuid,
                "" if data.scene is UNSET else data.scene,
                url,
                now,
                now,
            ),
        )
        return device_id

    async def _update(self, tx: Transaction, data: StationInput, device_id: int, now: int) -> None:
        station: dict[str, Any] = {"name": data.name}
        if data.uuid is not UNSET:
            station["uuid"] = data.uuid
        if data.scene is not UNSET:
            station["scene"] = data.scene
        if data.websocket_url is not UNSET:
            station["websocket_url"] = data.websocket_url
        await self._devices.upsert_in(
            tx,
            DeviceInput(
                device_id,
                device_name=data.name,
                ip_address=data.ip_address,
                protocol=UNSET if data.websocket_url is UNSET else "websocket" if data.websocket_url else "none",
            ),
        )
        assignments = ", ".join(f"{column} = ?" for column in station)
        await tx.conn.execute(
            f"UPDATE stations SET {assignments}, updated_at = ? WHERE device_id = ?",
            (*station.values(), now, device_id),
        )

    async def _follow_device(self, tx: Transaction, device: Device) -> None:
        """A station's name is its device's name: a device renamed by the device owner (through the device API
        or a station change) renames its station in the same transaction."""
        row = await tx.conn.fetch_one("SELECT name FROM stations WHERE device_id = ?", (device.device_id,))
        if row is None or row[0] == device.device_name:
            return
        await self._check_free(tx.conn, "name", device.device_name, device.device_id)
        await tx.conn.execute(
            "UPDATE stations SET name = ?, updated_at = ? WHERE device_id = ?",
            (device.device_name, device.updated_at, device.device_id),
        )
