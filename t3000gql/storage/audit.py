"""The audit trail: who changed what, when, from where, and how it ended. The owner of `audit_log`.

Entries are written in the transaction of the change they describe: values by the write path, registry changes
by the registry service through the table owners' `*_in` methods, tokens by the authenticator. A command sent
to a device cannot share a transaction with the device, so it is written twice: `begin` records the intent
(outcome `pending`) before anything is sent, and `finish_in` (in the transaction that stores the value) or
`finish` records how it ended. An entry left `pending` says the server stopped before it knew.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from t3000gql.domain.audit import DONE, FAILED, PENDING, Actor
from t3000gql.domain.points import PointType
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import ValidationError
from t3000gql.storage.connection import Connection
from t3000gql.storage.database import Database

_INSERT = (
    "INSERT INTO audit_log (ts, operation, user_id, client, outcome, device_id, point_type, point_number, "
    "old_value, new_value, source, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_FINISH = "UPDATE audit_log SET outcome = ?, detail = {merged} WHERE id = ? AND outcome = 'pending'"
_SELECT = (
    "SELECT id, ts, operation, user_id, client, outcome, device_id, point_type, point_number, old_value, "
    "new_value, source, detail FROM audit_log"
)


@dataclass(frozen=True, slots=True)
class AuditNote:
    """One entry to write: the operation, who asked, and what it touched."""

    operation: str
    actor: Actor
    device_id: int | None = None
    point_type: int | None = None
    point_number: int | None = None
    old_value: float | None = None
    new_value: float | None = None
    source: str = "api"
    outcome: str = DONE
    detail: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    ts_ms: int
    operation: str
    user_id: str | None
    client: str | None
    outcome: str
    device_id: int | None
    point_type: PointType | None
    point_number: int | None
    old_value: float | None
    new_value: float | None
    source: str
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> AuditEntry:
        return cls(
            id=row[0],
            ts_ms=row[1],
            operation=row[2],
            user_id=row[3],
            client=row[4],
            outcome=row[5],
            device_id=row[6],
            point_type=None if row[7] is None else PointType(row[7]),
            point_number=row[8],
            old_value=row[9],
            new_value=row[10],
            source=row[11],
            detail=json.loads(row[12]) if row[12] else {},
        )


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """A page of the trail, newest first. `before_id` continues a page (the cursor is the last id seen)."""

    since_ms: int | None = None
    until_ms: int | None = None
    user: str | None = None
    device_id: int | None = None
    operation: str | None = None
    limit: int = 100
    before_id: int | None = None


def row_of(note: AuditNote, now_ms: int) -> tuple[Any, ...]:
    return (
        now_ms,
        note.operation,
        note.actor.user,
        note.actor.client,
        note.outcome,
        note.device_id,
        note.point_type,
        note.point_number,
        note.old_value,
        note.new_value,
        note.source,
        None if note.detail is None else json.dumps(note.detail, sort_keys=True, default=str),
    )


def cursor_of(entry_id: int) -> str:
    """An opaque page cursor (the id of the last entry of a page)."""
    return base64.urlsafe_b64encode(f"audit:{entry_id}".encode()).decode().rstrip("=")


def id_of_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind != "audit":
            raise ValueError(kind)
        return int(number)
    except ValueError:
        raise ValidationError("is not a cursor this server gave", field="after", value=cursor) from None


class AuditLog:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def record_in(self, conn: Connection, notes: Sequence[AuditNote], *, now_ms: int) -> None:
        """Writes entries inside the caller's transaction (the change they describe commits with them)."""
        if notes:
            await conn.executemany(_INSERT, [row_of(note, now_ms) for note in notes])

    async def begin(self, note: AuditNote) -> int:
        """Records a command's intent (outcome pending) in a transaction of its own; returns the entry's id."""
        async with self._db.writer() as conn:
            row = await conn.fetch_one(
                _INSERT + " RETURNING id", row_of(replace(note, outcome=PENDING), self._clock())
            )
        assert row is not None
        return int(row[0])

    async def finish_in(
        self, conn: Connection, entry_id: int, outcome: str, detail: dict[str, Any] | None = None
    ) -> None:
        """How a command ended, inside the transaction that stores its result."""
        await conn.execute(
            _FINISH.format(merged=conn.dialect.json_merge("detail")),
            (outcome, json.dumps(detail or {}, sort_keys=True, default=str), entry_id),
        )

    async def finish(self, entry_id: int, outcome: str, detail: dict[str, Any] | None = None) -> None:
        async with self._db.writer() as conn:
            await self.finish_in(conn, entry_id, outcome, detail)

    async def failed(self, entry_id: int, error: BaseException, **detail: Any) -> None:
        await self.finish(entry_id, FAILED, {"error": f"{error.__class__.__name__}: {error}", **detail})

    async def get(self, entry_id: int) -> AuditEntry | None:
        row = await self._db.fetch_one(f"{_SELECT} WHERE id = ?", (entry_id,))
        return None if row is None else AuditEntry.from_row(row)

    async def query(self, query: AuditQuery) -> list[AuditEntry]:
        """Entries matching every filter given, newest first, at most `limit` (ask for one more to know if
        another page follows)."""
        clauses: list[str] = []
        params: list[Any] = []
        for clause, value in (
            ("ts >= ?", query.since_ms),
            ("ts < ?", query.until_ms),
            ("user_id = ?", query.user),
            ("device_id = ?", query.device_id),
            ("operation = ?", query.operation),
            ("id < ?", query.before_id),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._db.fetch_all(f"{_SELECT}{where} ORDER BY id DESC LIMIT ?", (*params, query.limit))
        return [AuditEntry.from_row(row) for row in rows]

    async def recent(self, *, device_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
        return await self.query(AuditQuery(device_id=device_id, limit=limit))
