"""Trend logs (T3000 monitors): which points a device samples, how often; with their points in slot order.

The owner of the `trend_logs` and `trend_log_points` tables (the collector's `last_collected` too goes
through `mark_collected`)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from t3000gql.config import DEFAULTS
from t3000gql.domain.inputs import UNSET, TrendLogInput, check_trend_log
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import NotFoundError, ValidationError
from t3000gql.storage.database import Database
from t3000gql.storage.points import PointRepository
from t3000gql.storage.records import TrendLog
from t3000gql.storage.transaction import Transaction, transaction

_SELECT = f"SELECT {TrendLog.COLUMNS} FROM trend_logs"


class TrendLogRepository:
    def __init__(
        self,
        db: Database,
        points: PointRepository,
        clock: Clock,
        default_interval: int = DEFAULTS.default_trend_interval_seconds,
    ) -> None:
        self._db = db
        self._points = points
        self._clock = clock
        self._default_interval = default_interval

    async def _with_points(self, rows: Sequence[Sequence[Any]]) -> list[TrendLog]:
        if not rows:
            return []
        ids = [row[0] for row in rows]
        slots = await self._db.fetch_all(
            "SELECT trend_log_id, point_id FROM trend_log_points "
            f"WHERE {self._db.dialect.any_of('trend_log_id')} ORDER BY trend_log_id, slot",
            (self._db.dialect.id_list(ids),),
        )
        by_log: dict[int, list[int]] = {i: [] for i in ids}
        for log_id, point_id in slots:
            by_log[log_id].append(point_id)
        return [TrendLog.from_row(tuple(row), tuple(by_log[row[0]])) for row in rows]

    async def get(self, trend_log_id: int) -> TrendLog | None:
        rows = await self._db.fetch_all(f"{_SELECT} WHERE id = ?", (trend_log_id,))
        logs = await self._with_points(rows)
        return logs[0] if logs else None

    async def require(self, trend_log_id: int) -> TrendLog:
        log = await self.get(trend_log_id)
        if log is None:
            raise NotFoundError(f"trend log {trend_log_id} does not exist")
        return log

    async def list_for_devices(self, device_ids: Sequence[int]) -> dict[int, list[TrendLog]]:
        rows = await self._db.fetch_all(
            f"{_SELECT} WHERE {self._db.dialect.any_of('device_id')} ORDER BY device_id, id",
            (self._db.dialect.id_list(device_ids),),
        )
        result: dict[int, list[TrendLog]] = {device_id: [] for device_id in device_ids}
        for log in await self._with_points(rows):
            result[log.device_id].append(log)
        return result

    async def list(self, device_id: int | None = None, *, is_active: bool | None = None) -> list[TrendLog]:
        clauses: list[str] = []
        params: list[Any] = []
        if device_id is not None:
            clauses.append("device_id = ?")
            params.append(device_id)
        if is_active is not None:
            clauses.append("is_active = ?")
            params.append(int(is_active))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._db.fetch_all(f"{_SELECT}{where} ORDER BY id", params)
        return await self._with_points(rows)

    async def upsert(self, device_id: int, data: TrendLogInput) -> TrendLog:
        """Creates a trend log (no id) or changes one (id given); points, when given, replace the old set."""
        check_trend_log(data)
        point_ids = await self._point_ids(device_id, data)
        async with transaction(self._db) as tx:
            return await self._write_in(tx, device_id, data, point_ids)

    async def upsert_in(self, tx: Transaction, device_id: int, data: TrendLogInput) -> TrendLog:
        """`upsert` as part of a caller's transaction."""
        check_trend_log(data)
        point_ids = await self._point_ids(device_id, data)
        return await self._write_in(tx, device_id, data, point_ids)

    async def _point_ids(self, device_id: int, data: TrendLogInput) -> builtins.list[int] | None:
        if data.points is UNSET:
            return None
        for index, ref in enumerate(data.points):
            if ref.device_id != device_id:
                raise ValidationError(
                    f"belongs to device {ref.device_id}, not to the trend log's device {device_id}",
                    field="points",
                    index=index,
                    value=str(ref),
                )
        resolved = await self._points.resolve(data.points)
        for index, ref in enumerate(data.points):
            if ref not in resolved:
                raise ValidationError("is not a known point", field="points", index=index, value=str(ref))
        return [resolved[ref] for ref in data.points]

    async def _write_in(
        self, tx: Transaction, device_id: int, data: TrendLogInput, point_ids: builtins.list[int] | None
    ) -> TrendLog:
        now = self._clock()
        conn = tx.conn
        if await conn.fetch_one("SELECT 1 FROM devices WHERE device_id = ?", (device_id,)) is None:
            raise NotFoundError(f"device {device_id} does not exist")
        if data.id is None:
            if data.trend_log_name is UNSET:
                raise ValidationError("is required to create a trend log", field="trend_log_name")
            created = await conn.fetch_one(
                "INSERT INTO trend_logs (device_id, trend_log_name, interval_seconds, max_points, is_active, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    device_id,
                    data.trend_log_name,
                    self._default_interval if data.interval_seconds is UNSET else data.interval_seconds,
                    1000 if data.max_points is UNSET else data.max_points,
                    1 if data.is_active is UNSET else int(data.is_active),
                    now,
                    now,
                ),
            )
            assert created is not None
            log_id = int(created[0])
        else:
            log_id = data.id
            row = await conn.fetch_one("SELECT device_id FROM trend_logs WHERE id = ?", (log_id,))
            if row is None:
                raise NotFoundError(f"trend log {log_id} does not exist")
            if row[0] != device_id:
                raise ValidationError(
                    f"belongs to device {row[0]}, not to device {device_id}",
                    field="trend_log_id",
                    value=log_id,
                )
            changes = {
                name: getattr(data, name)
                for name in ("trend_log_name", "interval_seconds", "max_points", "is_active")
                if getattr(data, name) is not UNSET
            }
            if "is_active" in changes:
                changes["is_active"] = int(changes["is_active"])
            assignments = "".join(f"{name} = ?, " for name in changes)
            await conn.execute(
                f"UPDATE trend_logs SET {assignments}updated_at = ? WHERE id = ?",
                (*changes.values(), now, log_id),
            )
        if point_ids is not None:
            await conn.execute("DELETE FROM trend_log_points WHERE trend_log_id = ?", (log_id,))
            await conn.executemany(
                "INSERT INTO trend_log_points (trend_log_id, slot, point_id) VALUES (?, ?, ?)",
                [(log_id, slot, pid) for slot, pid in enumerate(point_ids)],
            )
        assert log_id is not None
        found = await self.get_in(tx, log_id)
        assert found is not None
        return found

    async def get_in(self, tx: Transaction, trend_log_id: int) -> TrendLog | None:
        """The trend log as the caller's transaction sees it."""
        row = await tx.conn.fetch_one(f"{_SELECT} WHERE id = ?", (trend_log_id,))
        if row is None:
            return None
        slots = await tx.conn.fetch_all(
            "SELECT point_id FROM trend_log_points WHERE trend_log_id = ? ORDER BY slot", (trend_log_id,)
        )
        return TrendLog.from_row(tuple(row), tuple(int(slot[0]) for slot in slots))

    async def delete(self, trend_log_id: int) -> bool:
        async with transaction(self._db) as tx:
            return await self.delete_in(tx, trend_log_id)

    async def delete_in(self, tx: Transaction, trend_log_id: int) -> bool:
        return await tx.conn.execute("DELETE FROM trend_logs WHERE id = ?", (trend_log_id,)) > 0

    async def mark_collected(self, trend_log_id: int, at_ms: int) -> None:
        async with self._db.writer() as conn:
            await conn.execute("UPDATE trend_logs SET last_collected = ? WHERE id = ?", (at_ms, trend_log_id))
