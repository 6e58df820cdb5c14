"""How far the log import got in each file. A checkpoint is written in the same transaction as the batch of
readings it covers (through the write path's `extra` hook), so after an interruption the import resumes exactly
after the last committed batch: nothing skipped, nothing written twice. The SQL lives here; the importer decides
when to save."""

from __future__ import annotations

from dataclasses import dataclass, replace

from t3000gql.storage.connection import Connection
from t3000gql.storage.database import Database

_COLUMNS = "file_key, path, byte_offset, line_number, size, imported, duplicates, invalid, flagged, completed"
_UPSERT = (
    f"INSERT INTO import_checkpoints ({_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (file_key) DO UPDATE SET path = excluded.path, byte_offset = excluded.byte_offset, "
    "line_number = excluded.line_number, size = excluded.size, imported = excluded.imported, "
    "duplicates = excluded.duplicates, invalid = excluded.invalid, flagged = excluded.flagged, "
    "completed = excluded.completed, updated_at = excluded.updated_at"
)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Totals are over all runs for this file; `byte_offset` is where the next line starts."""

    file_key: str
    path: str
    byte_offset: int = 0
    line_number: int = 0
    size: int = 0
    imported: int = 0
    duplicates: int = 0
    invalid: int = 0
    flagged: int = 0
    completed: bool = False

    def advanced(self, **changes: int | bool | str) -> Checkpoint:
        return replace(self, **changes)  # type: ignore[arg-type]

    def _row(self, now_ms: int) -> tuple[object, ...]:
        return (
            self.file_key,
            self.path,
            self.byte_offset,
            self.line_number,
            self.size,
            self.imported,
            self.duplicates,
            self.invalid,
            self.flagged,
            int(self.completed),
            now_ms,
        )


class CheckpointRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, file_key: str) -> Checkpoint | None:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM import_checkpoints WHERE file_key = ?", (file_key,)
        )
        if row is None:
            return None
        key, path, offset, line, size, imported, duplicates, invalid, flagged, completed = row
        return Checkpoint(key, path, offset, line, size, imported, duplicates, invalid, flagged, bool(completed))

    @staticmethod
    async def save_on(conn: Connection, checkpoint: Checkpoint, now_ms: int) -> None:
        """Saves inside the caller's write transaction (the write path's hook), with the batch it covers."""
        await conn.execute(_UPSERT, checkpoint._row(now_ms))

    async def save(self, checkpoint: Checkpoint, now_ms: int) -> None:
        """Saves on its own, for a stretch of lines that produced no reading to write (comments, bad lines)."""
        async with self._db.writer() as conn:
            await conn.execute(_UPSERT, checkpoint._row(now_ms))

    async def forget(self, file_key: str) -> None:
        async with self._db.writer() as conn:
            await conn.execute("DELETE FROM import_checkpoints WHERE file_key = ?", (file_key,))
