"""The connection every table owner writes and reads through, whichever database is behind it.

`Connection` is the whole vocabulary storage/ uses: statements with `?` parameter marks (`execute`,
`executemany`, `fetch_all`, `fetch_one`) and two bulk moves (`copy_rows`, `insert_new`) that each database does
its fastest way: SQLite with `executemany` on its own thread, PostgreSQL with COPY. `SqliteConnection` is
here; `PostgresConnection` is in `t3000gql/storage/postgres.py`. Rows come back as sequences (tuples on
SQLite, asyncpg records on PostgreSQL), read by position.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import aiosqlite

from t3000gql.errors import MigrationError
from t3000gql.storage.dialects import SQLITE, Dialect

Row = Sequence[Any]


class Connection(ABC):
    """One connection, inside a transaction when it came from `Database.writer()`."""

    dialect: Dialect

    @abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Runs one statement; returns the number of rows it changed (0 for statements that change none)."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Runs one statement once per parameter row."""

    @abstractmethod
    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of a query."""

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query that names one row (by key); None when there is none."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    async def execute_script(self, script: str) -> None:
        """Runs a script of several statements without parameters (a migration file)."""

    @abstractmethod
    async def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Appends rows to a table (no conflict handling: a duplicate key fails the whole call)."""

    @abstractmethod
    async def insert_new(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        constants: Mapping[str, int | None] | None = None,
    ) -> bool:
        """Inserts rows that are expected to be new, all or none: True when all were new and are written; False
        (and nothing written) when any key already existed, so that the caller merges instead. `constants`:
        columns that hold the same value in every row (not repeated in `rows`)."""


class SqliteConnection(Connection):
    """An aiosqlite connection; every call is one hand-off to its thread."""

    dialect = SQLITE

    def __init__(self, raw: aiosqlite.Connection) -> None:
        self.raw = raw

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self.raw.execute(sql, params)
        count = cursor.rowcount
        await cursor.close()
        return max(count, 0)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.raw.executemany(sql, rows)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        # One trip to the connection's thread (execute_fetchall) instead of three (execute, fetch, close):
        # each trip is a thread hand-off that costs more than a small indexed query itself.
        return await self.raw.execute_fetchall(sql, params)  # type: ignore[return-value]  # tuples: no row_factory

    async def execute_script(self, script: str) -> None:
        # aiosqlite's executescript would commit the open transaction first: one statement at a time instead
        for statement in split_statements(script):
            await self.raw.execute(statement)

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join("?" for _ in columns)
        await self.raw.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    async def insert_new(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        constants: Mapping[str, int | None] | None = None,
    ) -> bool:
        # One plain insert that skips existing keys, in a savepoint: if it skipped any, undo it. Constants are
        # written into the statement (integers or NULL only): binding is most of SQLite's cost per row.
        fixed = {name: "NULL" if value is None else str(int(value)) for name, value in (constants or {}).items()}
        names = ", ".join([*columns, *fixed])
        values = ", ".join(["?"] * len(columns) + list(fixed.values()))
        before = self.raw.total_changes
        await self.raw.execute("SAVEPOINT fresh")
        await self.raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({values}) ON CONFLICT DO NOTHING", rows)
        if self.raw.total_changes - before == len(rows):
            await self.raw.execute("RELEASE fresh")
            return True
        await self.raw.execute("ROLLBACK TO fresh")
        await self.raw.execute("RELEASE fresh")
        return False


def split_statements(script: str) -> list[str]:
    """Splits a SQL script into complete statements (aiosqlite has no executescript inside a transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in current.splitlines()
    ):
        raise MigrationError(f"incomplete SQL statement at the end of a migration: {current.strip()[:80]}")
    return statements
