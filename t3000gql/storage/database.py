"""Connections to the SQLite file: one writer, a pool of readers.

`databases` opens SQLite connections for us; we keep them for the life of the process because its SQLite
backend has no pool: it would otherwise open a new connection (a thread and a file handle, ~0.5 ms measured)
per query and forget the per-connection PRAGMAs (synchronous, busy_timeout, foreign_keys). Each is acquired
through `t3000gql.compat.databases` (the per-task trick that gives distinct connections). Hot paths use the raw
aiosqlite connection that `databases` hands out, whose `executemany` runs at SQLite speed.

Writes are serialized by one lock around the single writer connection (SQLite allows one writer anyway; a lock
keeps them from failing with SQLITE_BUSY). In WAL mode readers never wait for the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import databases

from t3000gql.compat.databases import acquire_own_connection, release
from t3000gql.config import DEFAULTS
from t3000gql.errors import ConfigError, DatabaseUnavailable, StorageError

log = logging.getLogger(__name__)

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
)

DEFAULT_CACHE_KIB = 65536
"""SQLite's page cache per connection (64 MiB) for a long-running server; the log import asks for less."""

# sqlite3 error texts that mean "cannot write now, try later" rather than "this write is wrong".
_UNAVAILABLE_MARKERS = ("database is locked", "readonly", "read-only", "disk is full", "disk i/o error", "busy")


def sqlite_path(url: str) -> str:
    """The file of a `sqlite:///…` URL (`sqlite:///:memory:` is refused: readers would not see the writer)."""
    parsed = databases.DatabaseURL(url)
    if parsed.scheme != "sqlite":
        raise ConfigError("DATABASE_URL", url, "a sqlite:/// URL (PostgreSQL is not supported yet)")
    path = parsed.database
    if not path or path == ":memory:":
        raise ConfigError("DATABASE_URL", url, "a file path, e.g. sqlite:///t3000gql.db")
    return path


def is_unavailable(exc: BaseException) -> bool:
    """True for errors that say the database cannot take writes now (locked, read-only, disk full)."""
    if not isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        return False
    text = str(exc).lower()
    return any(marker in text for marker in _UNAVAILABLE_MARKERS)


def storage_error(exc: BaseException, action: str) -> StorageError:
    if is_unavailable(exc):
        return DatabaseUnavailable(f"the database cannot {action} now: {exc}")
    return StorageError(f"the database failed to {action}: {exc}")


class Database:
    """Holds the writer and the readers. Open with `await db.connect()`, close with `await db.disconnect()`."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = DEFAULTS.database_pool_size,
        busy_timeout_ms: int = DEFAULTS.database_busy_timeout_ms,
        cache_kib: int = DEFAULT_CACHE_KIB,
    ) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self.pool_size = pool_size
        self.busy_timeout_ms = int(busy_timeout_ms)
        self.cache_kib = int(cache_kib)
        """SQLite's page cache per connection: a long-running server reads faster with a big one; a batch job
        (the log import) keeps its memory down with a small one."""
        self._database = databases.Database(url)
        self._opened = contextlib.AsyncExitStack()
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self.statements = 0
        """Statements sent to SQLite since start (reads and writes): tests and the benchmark count queries."""

    async def connect(self) -> None:
        """Opens the writer and the readers; when one fails, those already open are closed again."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        async with contextlib.AsyncExitStack() as opened:
            await self._database.connect()
            opened.push_async_callback(self._database.disconnect)
            opened.callback(self._forget_connections)
            self._writer = await self._open(opened)
            for _ in range(self.pool_size):
                self._readers.put_nowait(await self._open(opened))
            self._opened = opened.pop_all()

    async def _open(self, opened: contextlib.AsyncExitStack) -> aiosqlite.Connection:
        holder, raw = await acquire_own_connection(self._database)
        opened.push_async_callback(_release, holder)
        for pragma in PRAGMAS:
            await raw.execute(pragma)
        await raw.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms:d}")
        await raw.execute(f"PRAGMA cache_size=-{self.cache_kib:d}")
        return raw

    def _forget_connections(self) -> None:
        self._writer = None
        while not self._readers.empty():
            self._readers.get_nowait()

    async def disconnect(self) -> None:
        """Closes every connection, in reverse order of opening (nothing happens when none is open)."""
        opened, self._opened = self._opened, contextlib.AsyncExitStack()
        await opened.aclose()

    @contextlib.asynccontextmanager
    async def writer(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer connection inside one `BEGIN IMMEDIATE` transaction; committed on success, else rolled back."""
        if self._writer is None:
            raise StorageError("the database is not connected")
        async with self._write_lock:
            conn = self._writer
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise storage_error(exc, "start a write") from exc
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await conn.execute("ROLLBACK")
                raise
            try:
                await conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    await conn.execute("ROLLBACK")
                raise storage_error(exc, "commit") from exc

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[aiosqlite.Connection]:
        """A reader connection from the pool (waits when all are busy)."""
        if self._writer is None:
            raise StorageError("the database is not connected")
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def fetch_all(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        # One trip to the connection's thread (execute_fetchall) instead of three (execute, fetch, close):
        # each trip is a thread hand-off that costs more than a small indexed query itself.
        self.statements += 1
        async with self.reader() as conn:
            return await conn.execute_fetchall(sql, params)  # type: ignore[return-value]  # tuples: no row_factory

    async def fetch_one(self, sql: str, params: Any = ()) -> tuple[Any, ...] | None:
        """The first row of a query that names one row (by key); None when there is none."""
        rows = await self.fetch_all(sql, params)
        return tuple(rows[0]) if rows else None


async def _release(holder: databases.core.Connection) -> None:
    """Closes one connection; a failure is logged, not raised, so that the other connections still close."""
    try:
        await release(holder)
    except Exception:
        log.warning("closing a database connection failed", exc_info=True)
