"""Monitoring points of a device, and the directory that turns a `PointRef` into the internal point id.

The owner of the `monitoring_points` table: every write of a point row goes through here, including a
station's channels (the station owner calls `upsert_in` inside its own transaction). The directory is an
in-memory map kept in step by these writes and refilled from the table on a miss, so the write path resolves a
batch's points without a query per sample.
"""

from __future__ import annotations

import builtins
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from t3000gql.domain.inputs import UNSET, PointInput, check_limits, check_point
from t3000gql.domain.points import PointRef, PointType, unit_symbol, writable_by_default
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import NotFoundError, ValidationError
from t3000gql.storage.database import Database
from t3000gql.storage.records import MonitoringPoint, column_value
from t3000gql.storage.transaction import Transaction, transaction

_LOAD_ROWS = 1_000
"""Rows read at a time when the directory is filled at start (all at once would hold every row at the peak)."""
_FIELDS = (
    "point_name",
    "description",
    "unit_code",
    "data_type",
    "is_active",
    "options",
    "writable",
    "min_value",
    "max_value",
)
_DEFAULTS: dict[str, Any] = {
    "point_name": None,
    "description": None,
    "unit_code": None,
    "data_type": "REAL",
    "is_active": True,
    "options": {},
    "min_value": None,
    "max_value": None,
}
"""A new point's values for fields not given; `writable` depends on its type (`writable_by_default`)."""


class PointDirectory:
    """PointRef -> point id, for every point that exists; and the records of the points read most recently.

    Reading a point record is the only statement of a cached-value read (`point { current }`), and a statement
    is a hand-off to a reader thread that costs more than the rest of such a read under load. The records are
    kept in step like the ids: by this repository's own writes and by deletes (which drop them).

    Every point of the site is in here for the life of the process, so it is held compactly (~90 bytes a point,
    where two dicts of PointRefs and ints made per row took ~310): per device, a dict from the point's key (type
    and number in one int, one int object per key whichever devices share it) to its id; the way back as two
    arrays indexed by id (device id and key), from which `ref_of` builds the PointRef when asked. Ids are handed
    out densely by SQLite; an id far beyond the others is kept in a dict instead of stretching the arrays.
    """

    RECORDS = 16_384
    _DENSE_SLACK = 1 << 16
    """An id at most this far beyond twice the ids covered so far stretches the arrays; a farther one goes to
    the `_far_refs` dict (storage/cache.py holds its values the same way)."""

    def __init__(self) -> None:
        self._by_device: dict[int, dict[int, int]] = {}
        """device id -> {point key: point id}."""
        self._keys: dict[int, int] = {}
        """One int object per point key, shared by every device that has such a point."""
        self._device_of = array("q")
        self._key_of = array("q")
        """Device id and point key by point id; `_NO_POINT` in `_device_of` where no point has the id."""
        self._far_refs: dict[int, PointRef] = {}
        self._records: OrderedDict[int, MonitoringPoint] = OrderedDict()

    def add(self, ref: PointRef, point_id: int) -> None:
        old = self.ref_of(point_id)
        if old is not None and old != ref:
            self._unfile(old)  # the id was re-used for another point: its old name no longer leads here
        key = _key(ref)
        key = self._keys.setdefault(key, key)
        points = self._by_device.get(ref.device_id)
        if points is None:
            points = self._by_device[ref.device_id] = {}
        points[key] = point_id
        if self._reaches(point_id):
            self._device_of[point_id] = ref.device_id
            self._key_of[point_id] = key
        else:
            self._far_refs[point_id] = ref

    def _reaches(self, point_id: int) -> bool:
        """True when `point_id` has (or was just given) a slot in the arrays."""
        covered = len(self._device_of)
        if point_id < covered:
            return point_id >= 0
        if point_id > 2 * covered + self._DENSE_SLACK:
            return False
        grow = max(point_id + 1, covered + covered // 4) - covered
        self._device_of.extend(array("q", [_NO_POINT]) * grow)
        self._key_of.extend(array("q", [0]) * grow)
        return True

    def remember(self, point: MonitoringPoint) -> None:
        self.add(point.ref, point.id)
        self._records[point.id] = point
        self._records.move_to_end(point.id)
        if len(self._records) > self.RECORDS:
            self._records.popitem(last=False)

    def record(self, point_id: int) -> MonitoringPoint | None:
        return self._records.get(point_id)

    def get(self, ref: PointRef) -> int | None:
        points = self._by_device.get(ref.device_id)
        return None if points is None else points.get(_key(ref))

    def ref_of(self, point_id: int) -> PointRef | None:
        if 0 <= point_id < len(self._device_of):
            device_id = self._device_of[point_id]
            if device_id == _NO_POINT:
                return None
            number, point_type = divmod(self._key_of[point_id], _TYPE_SLOTS)
            return _new_ref(PointRef, (device_id, _POINT_TYPES[point_type], number))
        return self._far_refs.get(point_id)

    def drop_device(self, device_id: int) -> list[int]:
        gone = list(self._by_device.get(device_id, {}).values())
        for pid in gone:
            self.drop(pid)
        self._by_device.pop(device_id, None)
        return gone

    def drop(self, point_id: int) -> None:
        self._records.pop(point_id, None)
        ref = self.ref_of(point_id)
        if 0 <= point_id < len(self._device_of):
            self._device_of[point_id] = _NO_POINT
        else:
            self._far_refs.pop(point_id, None)
        if ref is not None:
            self._unfile(ref)

    def _unfile(self, ref: PointRef) -> None:
        points = self._by_device.get(ref.device_id)
        if points is not None:
            points.pop(_key(ref), None)

    def clear(self) -> None:
        self._by_device.clear()
        self._keys.clear()
        self._device_of = array("q")
        self._key_of = array("q")
        self._far_refs.clear()
        self._records.clear()


_NO_POINT = -(2**63)
_TYPE_SLOTS = 32
"""A point key is number * 32 + type: unique for every number (types are 0..17), and cheap to take apart."""
_POINT_TYPES: dict[int, PointType] = {point_type.value: point_type for point_type in PointType}
_new_ref = tuple.__new__  # PointRef is a NamedTuple: built without its Python-level __new__


def _key(ref: PointRef) -> int:
    return ref.point_number * _TYPE_SLOTS + ref.point_type


class PointRepository:
    def __init__(self, db: Database, clock: Clock, on_delete: Callable[[int], None] | None = None) -> None:
        self._db = db
        self._clock = clock
        self._on_delete = on_delete
        self.directory = PointDirectory()

    async def load_directory(self) -> None:
        self.directory.clear()
        async for rows in self._db.iterate(
            "SELECT id, device_id, point_type, point_number FROM monitoring_points", _LOAD_ROWS
        ):
            for pid, device_id, point_type, number in rows:
                self.directory.add(PointRef(device_id, PointType(point_type), number), pid)

    async def reload_devices(self, device_ids: Sequence[int]) -> list[int]:
        """Another process changed points of these devices: their ids are read again and their records dropped.
        Returns the ids of their points that are gone (whose cached values the caller drops)."""
        dialect = self._db.dialect
        rows = await self._db.fetch_all(
            f"SELECT id, device_id, point_type, point_number FROM monitoring_points WHERE {dialect.any_of('device_id')}",
            (dialect.id_list(sorted(set(device_ids))),),
        )
        before: set[int] = set()
        for device_id in set(device_ids):
            before.update(self.directory.drop_device(device_id))
        for pid, device_id, point_type, number in rows:
            self.directory.add(PointRef(device_id, PointType(point_type), number), pid)
        return sorted(before - {row[0] for row in rows})

    async def resolve(self, refs: Iterable[PointRef]) -> dict[PointRef, int]:
        """Point ids of the refs that exist (missing refs are left out; the caller decides if that is an error)."""
        found: dict[PointRef, int] = {}
        missing: list[PointRef] = []
        for ref in set(refs):
            pid = self.directory.get(ref)
            if pid is None:
                missing.append(ref)
            else:
                found[ref] = pid
        if missing:
            # Another process may have added points: look them up once before calling them unknown.
            dialect = self._db.dialect
            rows = await self._db.fetch_all(
                "SELECT id, device_id, point_type, point_number FROM monitoring_points "
                f"WHERE {dialect.any_of('device_id')}",
                (dialect.id_list(sorted({ref.device_id for ref in missing})),),
            )
            for pid, device_id, point_type, number in rows:
                ref = PointRef(device_id, PointType(point_type), number)
                self.directory.add(ref, pid)
            for ref in missing:
                pid = self.directory.get(ref)
                if pid is not None:
                    found[ref] = pid
        return found

    async def get(self, ref: PointRef) -> MonitoringPoint | None:
        row = await self._db.fetch_one(
            f"SELECT {MonitoringPoint.COLUMNS} FROM monitoring_points "
            "WHERE device_id = ? AND point_type = ? AND point_number = ?",
            (ref.device_id, int(ref.point_type), ref.point_number),
        )
        return MonitoringPoint.from_row(row) if row else None

    async def require(self, ref: PointRef) -> MonitoringPoint:
        point = await self.get(ref)
        if point is None:
            raise NotFoundError(f"point {ref} does not exist")
        return point

    async def get_by_ids(self, point_ids: Sequence[int]) -> dict[int, MonitoringPoint]:
        """Records of the points that exist: remembered ones from memory, the others in one statement."""
        found: dict[int, MonitoringPoint] = {}
        missing: list[int] = []
        for point_id in point_ids:
            point = self.directory.record(point_id)
            if point is None:
                missing.append(point_id)
            else:
                found[point_id] = point
        if missing:
            dialect = self._db.dialect
            rows = await self._db.fetch_all(
                f"SELECT {MonitoringPoint.COLUMNS} FROM monitoring_points WHERE {dialect.any_of('id')}",
                (dialect.id_list(missing),),
            )
            for row in rows:
                point = MonitoringPoint.from_row(row)
                self.directory.remember(point)
                found[point.id] = point
        return found

    async def get_many(self, refs: Sequence[PointRef]) -> dict[PointRef, MonitoringPoint]:
        ids = await self.resolve(refs)
        by_id = await self.get_by_ids(list(ids.values()))
        return {ref: by_id[pid] for ref, pid in ids.items() if pid in by_id}

    async def list_for_devices(
        self,
        device_ids: Sequence[int],
        *,
        point_type: PointType | None = None,
        is_active: bool | None = None,
    ) -> dict[int, list[MonitoringPoint]]:
        """Points of many devices in one statement (what a DataLoader needs), ordered by type and number."""
        dialect = self._db.dialect
        clauses = [dialect.any_of("device_id")]
        params: list[Any] = [dialect.id_list(device_ids)]
        if point_type is not None:
            clauses.append("point_type = ?")
            params.append(int(point_type))
        if is_active is not None:
            clauses.append("is_active = ?")
            params.append(int(is_active))
        rows = await self._db.fetch_all(
            f"SELECT {MonitoringPoint.COLUMNS} FROM monitoring_points WHERE {' AND '.join(clauses)} "
            "ORDER BY device_id, point_type, point_number",
            params,
        )
        result: dict[int, list[MonitoringPoint]] = {device_id: [] for device_id in device_ids}
        for row in rows:
            result[row[1]].append(MonitoringPoint.from_row(row))
        return result

    async def list_for_device(self, device_id: int, **filters: Any) -> builtins.list[MonitoringPoint]:
        return (await self.list_for_devices([device_id], **filters))[device_id]

    async def upsert(self, device_id: int, points: Sequence[PointInput]) -> tuple[list[MonitoringPoint], int, int]:
        """Creates or changes many points of one device, all or nothing. Returns (points, inserted, updated)."""
        check_points(points)  # before the write lock: bad input is refused even while the database is busy
        async with transaction(self._db) as tx:
            return await self.upsert_in(tx, device_id, points)

    async def upsert_in(
        self, tx: Transaction, device_id: int, points: Sequence[PointInput], *, keep_existing: bool = False
    ) -> tuple[list[MonitoringPoint], int, int]:
        """`upsert` as part of a caller's transaction; the records are remembered once that commits.
        With `keep_existing`, points that exist are left as they are (only missing ones are created)."""
        check_points(points)
        now = self._clock()
        conn = tx.conn
        inserted = updated = 0
        if await conn.fetch_one("SELECT 1 FROM devices WHERE device_id = ?", (device_id,)) is None:
            raise NotFoundError(f"device {device_id} does not exist")
        found = await conn.fetch_all(
            "SELECT point_type, point_number, id, min_value, max_value FROM monitoring_points WHERE device_id = ?",
            (device_id,),
        )
        existing_ids = {(row[0], row[1]): row[2] for row in found}
        limits = {(row[0], row[1]): (row[3], row[4]) for row in found}
        for index, data in enumerate(points):
            given = {name: getattr(data, name) for name in _FIELDS if getattr(data, name) is not UNSET}
            if "unit_code" in given:
                given["unit_symbol"] = unit_symbol(given["unit_code"])
            row_key = (device_id, int(data.point_type), data.point_number)
            existing = existing_ids.get(row_key[1:])
            if existing is not None:
                if keep_existing:
                    continue
                stored_min, stored_max = limits[row_key[1:]]
                check_limits(given.get("min_value", stored_min), given.get("max_value", stored_max), index=index)
                if given:
                    assignments = ", ".join(f"{name} = ?" for name in given)
                    await conn.execute(
                        f"UPDATE monitoring_points SET {assignments}, updated_at = ? WHERE id = ?",
                        (*(column_value(n, v) for n, v in given.items()), now, existing),
                    )
                updated += 1
            else:
                values = {
                    **_DEFAULTS,
                    "writable": writable_by_default(data.point_type),
                    "unit_symbol": unit_symbol(given.get("unit_code")),
                    **given,
                }
                names = list(values)
                await conn.execute(
                    "INSERT INTO monitoring_points (device_id, point_type, point_number, "
                    f"{', '.join(names)}, created_at, updated_at) "
                    f"VALUES (?, ?, ?, {', '.join('?' for _ in names)}, ?, ?)",
                    (*row_key, *(column_value(n, values[n]) for n in names), now, now),
                )
                inserted += 1
        rows = await conn.fetch_all(
            f"SELECT {MonitoringPoint.COLUMNS} FROM monitoring_points WHERE device_id = ? "
            "ORDER BY point_type, point_number",
            (device_id,),
        )
        stored = {(row[2], row[3]): MonitoringPoint.from_row(tuple(row)) for row in rows}
        result = [stored[(int(p.point_type), p.point_number)] for p in points]

        def remember() -> None:
            for point in result:
                self.directory.remember(point)

        tx.after_commit(remember)
        return result, inserted, updated

    async def delete(self, ref: PointRef) -> int | None:
        """Deletes one point with its cached value and history; returns its id, or None if it did not exist."""
        async with transaction(self._db) as tx:
            return await self.delete_in(tx, ref)

    async def delete_in(self, tx: Transaction, ref: PointRef) -> int | None:
        """`delete` as part of a caller's transaction; the directory and cache forget it once that commits."""
        row = await tx.conn.fetch_one(
            "DELETE FROM monitoring_points WHERE device_id = ? AND point_type = ? AND point_number = ? "
            "RETURNING id",
            (ref.device_id, int(ref.point_type), ref.point_number),
        )
        if row is None:
            return None
        point_id = int(row[0])

        def forget() -> None:
            self.directory.drop(point_id)
            if self._on_delete is not None:
                self._on_delete(point_id)

        tx.after_commit(forget)
        return point_id

    async def ids_of_device_in(self, tx: Transaction, device_id: int) -> list[int]:
        """The ids of a device's points as the caller's transaction sees them."""
        return [
            int(row[0])
            for row in await tx.conn.fetch_all(
                "SELECT id FROM monitoring_points WHERE device_id = ?", (device_id,)
            )
        ]

    async def list_in(self, tx: Transaction, device_id: int) -> builtins.list[MonitoringPoint]:
        """A device's points as the caller's transaction sees them."""
        return [
            MonitoringPoint.from_row(tuple(row))
            for row in await tx.conn.fetch_all(
                f"SELECT {MonitoringPoint.COLUMNS} FROM monitoring_points WHERE device_id = ?", (device_id,)
            )
        ]

    async def get_in(self, tx: Transaction, ref: PointRef) -> MonitoringPoint | None:
        row = await tx.conn.fetch_one(
            f"SELECT {MonitoringPoint.COLUMNS} FROM monitoring_points "
            "WHERE device_id = ? AND point_type = ? AND point_number = ?",
            (ref.device_id, int(ref.point_type), ref.point_number),
        )
        return None if row is None else MonitoringPoint.from_row(tuple(row))


def check_points(points: Sequence[PointInput]) -> None:
    """Every point's rules, and no point twice: callers check before they take the write lock."""
    seen: set[tuple[PointType, int]] = set()
    for index, data in enumerate(points):
        check_point(data, index=index)
        key = (data.point_type, data.point_number)
        if key in seen:
            raise ValidationError(
                "names the same point twice in one request",
                field="point_number",
                index=index,
                value=f"{data.point_type.name}/{data.point_number}",
            )
        seen.add(key)
