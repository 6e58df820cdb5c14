"""Connections to the SQLite file: one writer, a pool of readers.

Connections are aiosqlite's, opened directly and kept for the life of the process: a connection is a thread
and a file handle (~0.5 ms to open, measured) and carries per-connection PRAGMAs (synchronous, busy_timeout,
foreign_keys), so opening one per query would be slow and lose them. (The `databases` package opened them
before, through a per-task trick; it imported SQLAlchemy, ~12 MB of memory in every process for nothing we
used.) `executemany` on these connections runs at SQLite speed.

Writes are serialized by one lock around the single writer connection (SQLite allows one writer anyway; a lock
keeps them from failing with SQLITE_BUSY). In WAL mode readers never wait for the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosqlite

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
    parsed = urlsplit(url)
    if parsed.scheme != "sqlite":
        raise ConfigError("DATABASE_URL", url, "a sqlite:/// URL (PostgreSQL is not supported yet)")
    path = unquote(parsed.path.removeprefix("/"))
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


def trim_c_heap() -> None:
    """Returns the C heap's free pages to the system (glibc's `malloc_trim`; nothing elsewhere). glibc keeps
    memory freed in the middle of its heaps (the reader threads' included) until told: after loading a table once
    that is a few MB of resident memory for nothing."""
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return
    trim(0)


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
            opened.callback(self._forget_connections)
            self._writer = await self._open(opened)
            for _ in range(self.pool_size):
                self._readers.put_nowait(await self._open(opened))
            self._opened = opened.pop_all()

    async def _open(self, opened: contextlib.AsyncExitStack) -> aiosqlite.Connection:
        # isolation_level=None: no implicit transactions; `writer()` says BEGIN IMMEDIATE and COMMIT itself.
        raw = await aiosqlite.connect(self.path, isolation_level=None)
        opened.push_async_callback(_close, raw)
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

    async def iterate(self, sql: str, size: int, params: Any = ()) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The rows of a large query, `size` at a time: what loads a whole table into memory holds only one
        chunk of rows as Python objects at a time (`fetch_all` would hold all of them at the peak)."""
        self.statements += 1
        async with self.reader() as conn, conn.execute(sql, params) as cursor:
            while rows := await cursor.fetchmany(size):
                yield rows  # type: ignore[misc]  # tuples: no row_factory

    async def release_memory(self) -> None:
        """Gives back what the start-up loads used once: the page cache of every idle connection (`PRAGMA
        shrink_memory`; the loads read whole tables) and then the C heap's free memory (see `trim_c_heap`).
        Measured on a site of 100,000 points: 4 MB of resident memory."""
        idle: list[aiosqlite.Connection] = []
        while not self._readers.empty():
            idle.append(self._readers.get_nowait())
        try:
            for conn in idle:
                await conn.execute("PRAGMA shrink_memory")
        finally:
            for conn in idle:
                self._readers.put_nowait(conn)
        trim_c_heap()

    async def fetch_one(self, sql: str, params: Any = ()) -> tuple[Any, ...] | None:
        """The first row of a query that names one row (by key); None when there is none."""
        rows = await self.fetch_all(sql, params)
        return tuple(rows[0]) if rows else None


async def _close(conn: aiosqlite.Connection) -> None:
    """Closes one connection; a failure is logged, not raised, so that the other connections still close."""
    try:
        await conn.close()
    except Exception:
        log.warning("closing a database connection failed", exc_info=True)
