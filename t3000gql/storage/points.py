"""Monitoring points of a device, and the directory that turns a `PointRef` into the internal point id.

The owner of the `monitoring_points` table: every write of a point row goes through here, including a
station's channels (the station owner calls `upsert_in` inside its own transaction). The directory is an
in-memory map kept in step by these writes and refilled from the table on a miss, so the write path resolves a
batch's points without a query per sample.
"""

from __future__ import annotations

import builtins
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from t3000gql.domain.inputs import UNSET, PointInput, check_point
from t3000gql.domain.points import PointRef, PointType, unit_symbol
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import NotFoundError, ValidationError
from t3000gql.storage.database import Database
from t3000gql.storage.records import MonitoringPoint, column_value
from t3000gql.storage.transaction import Transaction, transaction

_FIELDS = ("point_name", "description", "unit_code", "data_type", "is_active", "options")
_DEFAULTS: dict[str, Any] = {
    "point_name": None,
    "description": None,
    "unit_code": None,
    "data_type": "REAL",
    "is_active": True,
    "options": {},
}


class PointDirectory:
    """PointRef -> point id, for every point that exists; and the records of the points read most recently.

    Reading a point record is the only statement of a cached-value read (`point { current }`), and a statement
    is a hand-off to a reader thread that costs more than the rest of such a read under load. The records are
    kept in step like the ids: by this repository's own writes and by deletes (which drop them).
    """

    RECORDS = 16_384

    def __init__(self) -> None:
        self._ids: dict[PointRef, int] = {}
        self._refs: dict[int, PointRef] = {}
        self._records: OrderedDict[int, MonitoringPoint] = OrderedDict()

    def add(self, ref: PointRef, point_id: int) -> None:
        self._ids[ref] = point_id
        self._refs[point_id] = ref

    def remember(self, point: MonitoringPoint) -> None:
        self.add(point.ref, point.id)
        self._records[point.id] = point
        self._records.move_to_end(point.id)
        if len(self._records) > self.RECORDS:
            self._records.popitem(last=False)

    def record(self, point_id: int) -> MonitoringPoint | None:
        return self._records.get(point_id)

    def get(self, ref: PointRef) -> int | None:
        return self._ids.get(ref)

    def ref_of(self, point_id: int) -> PointRef | None:
        return self._refs.get(point_id)

    def drop_device(self, device_id: int) -> list[int]:
        gone = [pid for ref, pid in self._ids.items() if ref.device_id == device_id]
        for pid in gone:
            self.drop(pid)
        return gone

    def drop(self, point_id: int) -> None:
        self._records.pop(point_id, None)
        ref = self._refs.pop(point_id, None)
        if ref is not None:
            self._ids.pop(ref, None)

    def clear(self) -> None:
        self._ids.clear()
        self._refs.clear()
        self._records.clear()


class PointRepository:
    def __init__(self, db: Database, clock: Clock, on_delete: Callable[[int], None] | None = None) -> None:
        self._db = db
        self._clock = clock
        self._on_delete = on_delete
        self.directory = PointDirectory()

    async def load_directory(self) -> None:
        rows = await self._db.fetch_all("SELECT id, device_id, point_type, point_number FROM monitoring_points")
        self.directory.clear()
        for pid, device_id, point_type, number in rows:
            self.directory.add(PointRef(device_id, PointType(point_type), number), pid)

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
                f"SELECT id, device_id, point_type, point_number FROM monitoring_points WHERE {dialect.any_of('device_id')}",
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
        _check_points(points)  # before the write lock: bad input is refused even while the database is busy
        async with transaction(self._db) as tx:
            return await self.upsert_in(tx, device_id, points)

    async def upsert_in(
        self, tx: Transaction, device_id: int, points: Sequence[PointInput], *, keep_existing: bool = False
    ) -> tuple[list[MonitoringPoint], int, int]:
        """`upsert` as part of a caller's transaction; the records are remembered once that commits.
        With `keep_existing`, points that exist are left as they are (only missing ones are created)."""
        _check_points(points)
        now = self._clock()
        conn = tx.conn
        inserted = updated = 0
        if await conn.fetch_one("SELECT 1 FROM devices WHERE device_id = ?", (device_id,)) is None:
            raise NotFoundError(f"device {device_id} does not exist")
        existing_ids = {
            (row[0], row[1]): row[2]
            for row in await conn.fetch_all(
                "SELECT point_type, point_number, id FROM monitoring_points WHERE device_id = ?", (device_id,)
            )
        }
        for data in points:
            given = {name: getattr(data, name) for name in _FIELDS if getattr(data, name) is not UNSET}
            if "unit_code" in given:
                given["unit_symbol"] = unit_symbol(given["unit_code"])
            row_key = (device_id, int(data.point_type), data.point_number)
            existing = existing_ids.get(row_key[1:])
            if existing is not None:
                if keep_existing:
                    continue
                if given:
                    assignments = ", ".join(f"{name} = ?" for name in given)
                    await conn.execute(
                        f"UPDATE monitoring_points SET {assignments}, updated_at = ? WHERE id = ?",
                        (*(column_value(n, v) for n, v in given.items()), now, existing),
                    )
                updated += 1
            else:
                values = {**_DEFAULTS, "unit_symbol": unit_symbol(given.get("unit_code")), **given}
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
        async with self._db.writer() as conn:
            row = await conn.fetch_one(
                "DELETE FROM monitoring_points WHERE device_id = ? AND point_type = ? AND point_number = ? "
                "RETURNING id",
                (ref.device_id, int(ref.point_type), ref.point_number),
            )
        if row is None:
            return None
        self.directory.drop(row[0])
        if self._on_delete is not None:
            self._on_delete(row[0])
        return int(row[0])


def _check_points(points: Sequence[PointInput]) -> None:
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
