"""Reading the audit trail (the write path writes it)."""

from __future__ import annotations

from dataclasses import dataclass

from t3000gql.storage.database import Database


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    ts_ms: int
    operation: str
    user_id: str | None
    device_id: int | None
    point_type: int | None
    point_number: int | None
    old_value: float | None
    new_value: float | None
    source: str


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def recent(self, *, device_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
        where, params = ("WHERE device_id = ? ", [device_id]) if device_id is not None else ("", [])
        rows = await self._db.fetch_all(
            "SELECT id, ts, operation, user_id, device_id, point_type, point_number, old_value, new_value, source "
            f"FROM audit_log {where}ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return [AuditEntry(*row) for row in rows]
