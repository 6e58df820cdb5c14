"""Stations: a `devices` row of type power_station, a `stations` row with its identity, and one point per channel,
created and changed together in one transaction so a station never exists without its channels."""

from __future__ import annotations

import json
import sqlite3
import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

import aiosqlite

from t3000gql.domain.inputs import UNSET, DeviceInput, check_device
from t3000gql.domain.points import PointRef, unit_symbol
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
from t3000gql.storage.database import Database
from t3000gql.storage.points import PointRepository


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


_SELECT = (
    "SELECT s.device_id, s.name, s.uuid, d.ip_address, s.scene, s.websocket_url, s.created_at, s.updated_at, "
    "(SELECT json_group_array(json_array(point_type, point_number, point_name)) FROM monitoring_points "
    " WHERE device_id = s.device_id) "
    "FROM stations AS s JOIN devices AS d ON d.device_id = s.device_id"
)
_CHANNEL_POSITION = {(int(c.point_type), c.point_number): i for i, c in enumerate(CHANNELS)}


def _station(row: tuple[Any, ...] | sqlite3.Row) -> Station:
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
    def __init__(self, db: Database, points: PointRepository, clock: Clock) -> None:
        self._db = db
        self._points = points
        self._clock = clock

    async def list(self) -> list[Station]:
        rows = await self._db.fetch_all(f"{_SELECT} ORDER BY s.name")
        return [_station(row) for row in rows]

    async def get(
        self, *, device_id: int | None = None, name: str | None = None, uuid: str | None = None
    ) -> Station | None:
        """The station with that id, name or uuid (exactly one of them must be given)."""
        given = [(column, value) for column, value in (("device_id", device_id), ("name", name), ("uuid", uuid))]
        chosen = [(column, value) for column, value in given if value is not None]
        if len(chosen) != 1:
            raise ValidationError("give exactly one of deviceId, name or uuid", field="station")
        column, value = chosen[0]
        row = await self._db.fetch_one(f"{_SELECT} WHERE s.{column} = ?", (value,))
        return _station(row) if row else None

    async def create(self, data: StationInput) -> Station:
        return await self._save(data, must_be_new=True)

    async def upsert(self, data: StationInput) -> Station:
        """Creates the station, or changes the given fields of the one with that device id (when given) or name."""
        return await self._save(data, must_be_new=False)

    async def _save(self, data: StationInput, *, must_be_new: bool) -> Station:
        check_station(data)
        if data.ip_address not in (UNSET, None):
            check_device(DeviceInput(device_id=0, ip_address=data.ip_address))
        now = self._clock()
        async with self._db.writer() as conn:
            existing = await self._find_for_save(conn, data)
            if existing is not None and must_be_new:
                raise ConflictError(f"station {data.name!r} already exists (device {existing})")
            await self._check_unique(conn, data, existing)
            if existing is None:
                device_id = await self._insert(conn, data, now)
            else:
                device_id = existing
                await self._update(conn, data, device_id, now)
            await self._ensure_channels(conn, data, device_id, now)
            async with conn.execute(f"{_SELECT} WHERE s.device_id = ?", (device_id,)) as cursor:
                row = await cursor.fetchone()
            async with conn.execute(
                "SELECT id, point_type, point_number FROM monitoring_points WHERE device_id = ?", (device_id,)
            ) as cursor:
                point_rows = await cursor.fetchall()
        assert row is not None
        station = _station(row)
        refs = station.refs
        for pid, point_type, number in point_rows:
            position = _CHANNEL_POSITION.get((point_type, number))
            if position is not None:
                self._points.directory.add(refs[position], pid)
        return station

    async def _find_for_save(self, conn: aiosqlite.Connection, data: StationInput) -> int | None:
        if data.device_id is not None:
            async with conn.execute(
                "SELECT device_type FROM devices WHERE device_id = ?", (data.device_id,)
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            if row[0] != STATION_DEVICE_TYPE:
                raise ConflictError(f"device {data.device_id} exists and is not a power station")
            return data.device_id
        async with conn.execute("SELECT device_id FROM stations WHERE name = ?", (data.name,)) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else None

    async def _check_unique(self, conn: aiosqlite.Connection, data: StationInput, device_id: int | None) -> None:
        checks: list[tuple[str, str, Any]] = [("name", "name", data.name)]
        if data.uuid is not UNSET:
            checks.append(("uuid", "uuid", data.uuid))
        for column, field, value in checks:
            async with conn.execute(
                f"SELECT device_id FROM stations WHERE {column} = ? AND device_id IS NOT ?", (value, device_id)
            ) as cursor:
                other = await cursor.fetchone()
            if other is not None:
                raise ConflictError(f"another station (device {other[0]}) already has {field} {value!r}")

    async def _insert(self, conn: aiosqlite.Connection, data: StationInput, now: int) -> int:
        device_id = data.device_id
        if device_id is None:
            async with conn.execute(
                "SELECT coalesce(max(device_id) + 1, ?) FROM devices WHERE device_id BETWEEN ? AND ?",
                (STATION_ID_FIRST, STATION_ID_FIRST, STATION_ID_LAST),
            ) as cursor:
                row = await cursor.fetchone()
            assert row is not None
            device_id = int(row[0])
            if device_id > STATION_ID_LAST:
                raise ConflictError(f"no free station device id left in {STATION_ID_FIRST}..{STATION_ID_LAST}")
        url = None if data.websocket_url is UNSET else data.websocket_url
        await conn.execute(
            "INSERT INTO devices (device_id, device_name, device_type, ip_address, protocol, options, is_active, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, '{}', 1, ?, ?)",
            (
                device_id,
                data.name,
                STATION_DEVICE_TYPE,
                None if data.ip_address is UNSET else data.ip_address,
                "websocket" if url else "none",
                now,
                now,
            ),
        )
        await conn.execute(
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

    async def _update(self, conn: aiosqlite.Connection, data: StationInput, device_id: int, now: int) -> None:
        station: dict[str, Any] = {"name": data.name}
        device: dict[str, Any] = {"device_name": data.name}
        if data.uuid is not UNSET:
            station["uuid"] = data.uuid
        if data.scene is not UNSET:
            station["scene"] = data.scene
        if data.websocket_url is not UNSET:
            station["websocket_url"] = data.websocket_url
            device["protocol"] = "websocket" if data.websocket_url else "none"
        if data.ip_address is not UNSET:
            device["ip_address"] = data.ip_address
        for table, values in (("stations", station), ("devices", device)):
            assignments = ", ".join(f"{column} = ?" for column in values)
            await conn.execute(
                f"UPDATE {table} SET {assignments}, updated_at = ? WHERE device_id = ?",
                (*values.values(), now, device_id),
            )

    async def _ensure_channels(
        self, conn: aiosqlite.Connection, data: StationInput, device_id: int, now: int
    ) -> None:
        """Creates missing channel points with their default names, then applies any renames."""
        await conn.executemany(
            "INSERT OR IGNORE INTO monitoring_points (device_id, point_type, point_number, point_name, "
            "description, unit_code, unit_symbol, data_type, is_active, options, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'REAL', 1, '{}', ?, ?)",
            [
                (
                    device_id,
                    int(c.point_type),
                    c.point_number,
                    c.default_name,
                    c.field,
                    c.unit_code,
                    unit_symbol(c.unit_code),
                    now,
                    now,
                )
                for c in CHANNELS
            ],
        )
        if data.channel_names is not UNSET:
            by_field = {c.field: c for c in CHANNELS}
            await conn.executemany(
                "UPDATE monitoring_points SET point_name = ?, updated_at = ? "
                "WHERE device_id = ? AND point_type = ? AND point_number = ?",
                [
                    (name, now, device_id, int(by_field[f].point_type), by_field[f].point_number)
                    for f, name in data.channel_names.items()
                ],
            )
