"""The database: one interface (`Database`), two implementations chosen by DATABASE_URL's scheme.

`Database.for_url(url)` gives a `SqliteDatabase` (here) for `sqlite:///…` and a `PostgresDatabase`
(`t3000gql/storage/postgres.py`) for `postgresql://…`. Both hand out `Connection`s
(`t3000gql/storage/connection.py`): `writer()` one inside a write transaction (writes of one process take turns),
`reader()` one from a pool of DATABASE_POOL_SIZE readers. Nothing above storage/ knows which one it runs on.

SQLite: one writer, a pool of readers.

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

import asyncpg
import databases

from t3000gql.compat.databases import acquire_own_connection, release
from t3000gql.config import DEFAULTS
from t3000gql.errors import ConfigError, DatabaseUnavailable, StorageError
from t3000gql.storage.connection import Connection, Row, SqliteConnection
from t3000gql.storage.dialects import SQLITE, Dialect

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


DRIVER_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError)
"""What the database drivers raise of their own (besides our StorageError): callers that must tell "the
database failed" from a bug catch these."""

SCHEMES = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql"}
"""DATABASE_URL schemes and the database kind each names."""


def backend_of(url: str) -> str:
    """ "sqlite" or "postgresql" for a DATABASE_URL; anything else is refused with the setting named."""
    scheme = url.partition("://")[0].partition("+")[0]
    if scheme not in SCHEMES:
        raise ConfigError("DATABASE_URL", url, "a sqlite:/// or postgresql:// URL")
    return SCHEMES[scheme]


def sqlite_path(url: str) -> str:
    """The file of a `sqlite:///…` URL (`sqlite:///:memory:` is refused: readers would not see the writer)."""
    parsed = databases.DatabaseURL(url)
    if parsed.scheme != "sqlite":
        raise ConfigError("DATABASE_URL", url, "a sqlite:/// URL")
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
    """The storage interface to one database. Open with `await db.connect()`, close with `await db.disconnect()`.

    Build one with `Database.for_url(url, …)`."""

    dialect: Dialect
    url: str
    pool_size: int
    statements: int
    """Statements sent since start (reads and writes): tests and the benchmark count queries."""
    label: str
    """The database for people: a SQLite file's path, a PostgreSQL URL without its password."""
    local_path: str
    """Where files that belong beside this database go (a spool): the SQLite file; for PostgreSQL a name in the
    working directory."""

    @staticmethod
    def for_url(
        url: str,
        *,
        pool_size: int = DEFAULTS.database_pool_size,
        busy_timeout_ms: int = DEFAULTS.database_busy_timeout_ms,
        cache_kib: int = DEFAULT_CACHE_KIB,
    ) -> Database:
        """The implementation DATABASE_URL's scheme names (not connected yet)."""
        if backend_of(url) == "postgresql":
            from t3000gql.storage.postgres import PostgresDatabase

            return PostgresDatabase(url, pool_size=pool_size, busy_timeout_ms=busy_timeout_ms)
        return SqliteDatabase(url, pool_size=pool_size, busy_timeout_ms=busy_timeout_ms, cache_kib=cache_kib)

    @property
    def backend(self) -> str:
        return self.dialect.name

    async def connect(self) -> None:
        raise StorageError(f"{type(self).__name__} cannot connect")

    async def disconnect(self) -> None:
        return None

    def writer(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        """A connection inside one write transaction: committed when the block ends, rolled back when it raises.
        Writes of one process take turns (one writer at a time)."""
        raise StorageError(f"{type(self).__name__} has no writer")

    def reader(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        """A reader connection from the pool (waits when all are busy); sees committed data."""
        raise StorageError(f"{type(self).__name__} has no readers")

    async def fetch_all(self, sql: str, params: Any = ()) -> list[Row]:
        self.statements += 1
        async with self.reader() as conn:
            return await conn.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Any = ()) -> Row | None:
        """The first row of a query that names one row (by key); None when there is none."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None


class SqliteDatabase(Database):
    """Holds the writer and the readers of one SQLite file."""

    dialect = SQLITE

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
        self.label = self.path
        self.local_path = self.path
        self.pool_size = pool_size
        self.busy_timeout_ms = int(busy_timeout_ms)
        self.cache_kib = int(cache_kib)
        """SQLite's page cache per connection: a long-running server reads faster with a big one; a batch job
        (the log import) keeps its memory down with a small one."""
        self._database = databases.Database(url)
        self._opened = contextlib.AsyncExitStack()
        self._writer: SqliteConnection | None = None
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[SqliteConnection] = asyncio.Queue()
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

    async def _open(self, opened: contextlib.AsyncExitStack) -> SqliteConnection:
        holder, raw = await acquire_own_connection(self._database)
        opened.push_async_callback(_release, holder)
        for pragma in PRAGMAS:
            await raw.execute(pragma)
        await raw.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms:d}")
        await raw.execute(f"PRAGMA cache_size=-{self.cache_kib:d}")
        return SqliteConnection(raw)

    def _forget_connections(self) -> None:
        self._writer = None
        while not self._readers.empty():
            self._readers.get_nowait()

    async def disconnect(self) -> None:
        """Closes every connection, in reverse order of opening (nothing happens when none is open)."""
        opened, self._opened = self._opened, contextlib.AsyncExitStack()
        await opened.aclose()

    @contextlib.asynccontextmanager
    async def writer(self) -> AsyncIterator[Connection]:
        """The writer connection inside one `BEGIN IMMEDIATE` transaction; committed on success, else rolled back."""
        if self._writer is None:
            raise StorageError("the database is not connected")
        async with self._write_lock:
            wrapped = self._writer
            conn = wrapped.raw
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise storage_error(exc, "start a write") from exc
            try:
                yield wrapped
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
    async def reader(self) -> AsyncIterator[Connection]:
        """A reader connection from the pool (waits when all are busy)."""
        if self._writer is None:
            raise StorageError("the database is not connected")
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)


async def _release(holder: databases.core.Connection) -> None:
    """Closes one connection; a failure is logged, not raised, so that the other connections still close."""
    try:
        await release(holder)
    except Exception:
        log.warning("closing a database connection failed", exc_info=True)
