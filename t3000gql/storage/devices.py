"""Devices (controllers and stations): create, update, upsert, delete, list, get by device id.

The owner of the `devices` table: every write of a device row goes through here, including a station's (the
station owner calls `upsert_in` inside its own transaction), so the records kept in memory stay true.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from t3000gql.domain.inputs import UNSET, DeviceInput, check_device
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import ConflictError, NotFoundError, ValidationError
from t3000gql.storage.database import Database
from t3000gql.storage.records import Device, column_value
from t3000gql.storage.transaction import Transaction, transaction

_FIELDS = (
    "device_name",
    "device_type",
    "ip_address",
    "port",
    "protocol",
    "modbus_unit_id",
    "bacnet_instance",
    "is_active",
    "options",
)
_DEFAULTS: dict[str, Any] = {
    "ip_address": None,
    "port": None,
    "protocol": "none",
    "modbus_unit_id": None,
    "bacnet_instance": None,
    "is_active": True,
    "options": {},
}

DeviceWritten = Callable[[Transaction, Device], Awaitable[None]]
"""Runs in the transaction that wrote a device row, told the row as written: the owner of a table that keeps a
copy of a device's field (a station's name) updates its own rows there, so both commit or neither does."""


class DeviceRepository:
    def __init__(self, db: Database, clock: Clock, on_delete: Callable[[int], None] | None = None) -> None:
        self._db = db
        self._clock = clock
        self._on_delete = on_delete
        self._remembered: dict[int, Device] = {}
        """Records this repository read or wrote, kept in step by its own writes: a current-value read needs
        the device's protocol for every stale point, and asking SQLite each time would put a statement on the
        cache-hit path. (Devices are few: thousands at most.)"""
        self._dependents: list[DeviceWritten] = []

    def on_written(self, dependent: DeviceWritten) -> None:
        """Registers the owner of a table that copies a device field (see `DeviceWritten`)."""
        self._dependents.append(dependent)

    def remembered(self, device_id: int) -> Device | None:
        """The record from memory, without a statement; None when it was not read yet (or does not exist)."""
        return self._remembered.get(device_id)

    def forget(self, device_ids: Iterable[int] | None = None) -> None:
        """Drops the records of these devices (None: of all), which another process changed: the next read asks
        the database."""
        if device_ids is None:
            self._remembered.clear()
        else:
            for device_id in device_ids:
                self._remembered.pop(device_id, None)

    def _remember(self, device: Device) -> Device:
        self._remembered[device.device_id] = device
        return device

    async def get(self, device_id: int) -> Device | None:
        known = self._remembered.get(device_id)
        if known is not None:
            return known
        row = await self._db.fetch_one(f"SELECT {Device.COLUMNS} FROM devices WHERE device_id = ?", (device_id,))
        return self._remember(Device.from_row(row)) if row else None

    async def require(self, device_id: int) -> Device:
        device = await self.get(device_id)
        if device is None:
            raise NotFoundError(f"device {device_id} does not exist")
        return device

    async def get_many(self, device_ids: Sequence[int]) -> dict[int, Device]:
        found = {i: known for i in device_ids if (known := self._remembered.get(i)) is not None}
        missing = [i for i in device_ids if i not in found]
        if missing:
            dialect = self._db.dialect
            rows = await self._db.fetch_all(
                f"SELECT {Device.COLUMNS} FROM devices WHERE {dialect.any_of('device_id')}",
                (dialect.id_list(missing),),
            )
            for row in rows:
                found[row[0]] = self._remember(Device.from_row(row))
        return found

    async def list(self, *, is_active: bool | None = None, device_type: str | None = None) -> list[Device]:
        clauses: list[str] = []
        params: list[Any] = []
        if is_active is not None:
            clauses.append("is_active = ?")
            params.append(int(is_active))
        if device_type is not None:
            clauses.append("device_type = ?")
            params.append(device_type)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._db.fetch_all(f"SELECT {Device.COLUMNS} FROM devices{where} ORDER BY device_id", params)
        return [self._remember(Device.from_row(row)) for row in rows]

    async def create(self, data: DeviceInput) -> Device:
        check_device(data)
        if await self.get(data.device_id) is not None:
            raise ConflictError(f"device {data.device_id} already exists")
        return await self.upsert(data)

    async def update(self, data: DeviceInput) -> Device:
        check_device(data)
        await self.require(data.device_id)
        return await self.upsert(data)

    async def upsert(self, data: DeviceInput) -> Device:
        """Creates the device or changes the fields given; fields left UNSET keep their stored value."""
        check_device(data)  # before the write lock: bad input is refused even while the database is busy
        async with transaction(self._db) as tx:
            return await self.upsert_in(tx, data)

    async def upsert_in(self, tx: Transaction, data: DeviceInput) -> Device:
        """`upsert` as part of a caller's transaction; the record is remembered once that commits."""
        check_device(data)
        now = self._clock()
        conn = tx.conn
        given = {name: getattr(data, name) for name in _FIELDS if getattr(data, name) is not UNSET}
        if await self.get_in(tx, data.device_id) is not None:
            if given:
                assignments = ", ".join(f"{name} = ?" for name in given)
                await conn.execute(
                    f"UPDATE devices SET {assignments}, updated_at = ? WHERE device_id = ?",
                    (*(column_value(n, v) for n, v in given.items()), now, data.device_id),
                )
        else:
            for required in ("device_name", "device_type"):
                if required not in given:
                    raise ValidationError("is required to create a device", field=required, value=None)
            values = {**_DEFAULTS, **given}
            names = list(values)
            await conn.execute(
                f"INSERT INTO devices (device_id, {', '.join(names)}, created_at, updated_at) "
                f"VALUES (?, {', '.join('?' for _ in names)}, ?, ?)",
                (data.device_id, *(column_value(n, values[n]) for n in names), now, now),
            )
        device = await self.get_in(tx, data.device_id)
        assert device is not None
        for dependent in self._dependents:
            await dependent(tx, device)
        tx.after_commit(lambda: self._remember(device))
        return device

    async def get_in(self, tx: Transaction, device_id: int) -> Device | None:
        """The row as the caller's transaction sees it (not from memory)."""
        row = await tx.conn.fetch_one(f"SELECT {Device.COLUMNS} FROM devices WHERE device_id = ?", (device_id,))
        return Device.from_row(tuple(row)) if row is not None else None

    async def next_free_id_in(self, tx: Transaction, first: int, last: int) -> int | None:
        """The id after the highest one used in [first, last] (first when none is); None when last is taken."""
        row = await tx.conn.fetch_one(
            "SELECT coalesce(max(device_id) + 1, ?) FROM devices WHERE device_id BETWEEN ? AND ?",
            (first, first, last),
        )
        assert row is not None
        return int(row[0]) if row[0] <= last else None

    async def delete(self, device_id: int) -> bool:
        """Deletes the device with its points, trend logs, cached values and history (foreign keys cascade)."""
        async with transaction(self._db) as tx:
            return await self.delete_in(tx, device_id)

    async def delete_in(self, tx: Transaction, device_id: int) -> bool:
        """`delete` as part of a caller's transaction; what is kept in memory is dropped once that commits."""
        deleted = await tx.conn.execute("DELETE FROM devices WHERE device_id = ?", (device_id,)) > 0

        def forget() -> None:
            self._remembered.pop(device_id, None)
            if deleted and self._on_delete is not None:
                self._on_delete(device_id)

        tx.after_commit(forget)
        return deleted

    async def set_status(self, device_id: int, *, online: bool, seen_at: int | None = None) -> bool:
        """Records reachability; returns True when `online` changed (so a caller can publish the change)."""
        seen_ms = seen_at if seen_at is not None else self._clock()
        async with self._db.writer() as conn:
            row = await conn.fetch_one("SELECT online FROM devices WHERE device_id = ?", (device_id,))
            if row is None:
                raise NotFoundError(f"device {device_id} does not exist")
            changed = row[0] is None or bool(row[0]) != online
            if online:
                await conn.execute(
                    "UPDATE devices SET online = 1, last_seen = ? WHERE device_id = ?",
                    (seen_ms, device_id),
                )
            elif changed:
                await conn.execute("UPDATE devices SET online = 0 WHERE device_id = ?", (device_id,))
        known = self._remembered.get(device_id)
        if known is not None:
            self._remembered[device_id] = replace(
                known, online=online, last_seen=seen_ms if online else known.last_seen
            )
        return changed
