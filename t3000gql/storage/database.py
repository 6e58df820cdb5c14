"""The database: one interface (`Database`), two implementations chosen by DATABASE_URL's scheme.

`Database.for_url(url)` gives a `SqliteDatabase` (here) for `sqlite:///…` and a `PostgresDatabase`
(`t3000gql/storage/postgres.py`) for `postgresql://…`. Both hand out `Connection`s
(`t3000gql/storage/connection.py`): `writer()` one inside a write transaction (writes of one process take turns),
`reader()` one from a pool of DATABASE_POOL_SIZE readers. Nothing above storage/ knows which one it runs on.

SQLite: one writer, a pool of readers. Connections are aiosqlite's, opened directly and kept for the life of
the process: a connection is a thread and a file handle (~0.5 ms to open, measured) and carries per-connection
PRAGMAs (synchronous, busy_timeout, foreign_keys), so opening one per query would be slow and lose them. (The
`databases` package opened them before, through a per-task trick; it imported SQLAlchemy, ~12 MB of memory in
every process for nothing we used.) `executemany` on these connections runs at SQLite speed.

Writes are serialized by one lock around the single writer connection (SQLite allows one writer anyway; a lock
keeps them from failing with SQLITE_BUSY). In WAL mode readers never wait for the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosqlite
import asyncpg

from t3000gql.config import DEFAULTS
from t3000gql.errors import ConfigError, DatabaseUnavailable, StorageError
from t3000gql.storage.availability import WriteBreaker
from t3000gql.storage.connection import Connection, Row, SqliteConnection
from t3000gql.storage.dialects import SQLITE, Dialect
from t3000gql.storage.timing import READ, WRITE, SqlTimings

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
    parsed = urlsplit(url)
    if parsed.scheme != "sqlite":
        raise ConfigError("DATABASE_URL", url, "a sqlite:/// URL")
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
    breaker: WriteBreaker
    """Open while the database is known to refuse writes: writes then fail fast (storage/availability.py)."""
    timings: SqlTimings
    """Time spent in reads and write transactions (t3000gql/storage/timing.py): /health and /metrics read it."""

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

    def writer(self, *, durable: bool = False) -> contextlib.AbstractAsyncContextManager[Connection]:
        """A connection inside one write transaction: committed when the block ends, rolled back when it raises.
        Writes of one process take turns (one writer at a time). The wait for the write lock is bounded by the
        breaker and the request's deadline (storage/availability.py): past it, DatabaseUnavailable.

        `durable`: the commit is on disk when the block ends, whatever the database's usual trade-off
        (SQLite's synchronous=FULL for this commit; PostgreSQL's synchronous_commit=on): what a caller needs
        before it deletes the only other copy of the rows (a spool)."""
        raise StorageError(f"{type(self).__name__} has no writer")

    @contextlib.asynccontextmanager
    async def _turn(self, lock: asyncio.Lock) -> AsyncIterator[None]:
        """This process's turn to write: the writer lock, waited for no longer than the request's deadline, and
        not at all while the breaker is open and another write (the probe) holds it."""
        breaker = self.breaker
        if breaker.is_open and lock.locked():
            breaker.refused()
            raise DatabaseUnavailable(breaker.refusal())
        try:
            async with asyncio.timeout(breaker.remaining_s()):
                await lock.acquire()
        except TimeoutError:
            raise DatabaseUnavailable(
                "the database could not take this write in the request's time (API_REQUEST_TIMEOUT_SECONDS): "
                "other writes held it; nothing was written, retry later"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def _refused(self, exc: DatabaseUnavailable, *, was_open: bool, waited_ms: int) -> DatabaseUnavailable:
        """Feeds a refusal to the breaker; the error to raise (the breaker's reason when it was a probe)."""
        if was_open:
            self.breaker.refused()
            self.breaker.failed(exc, waited_ms=waited_ms)
            return DatabaseUnavailable(self.breaker.refusal())
        self.breaker.failed(exc, waited_ms=waited_ms)
        return exc

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

    def iterate(self, sql: str, size: int, params: Any = ()) -> AsyncIterator[list[Row]]:
        """The rows of a large query, `size` at a time: what loads a whole table into memory holds only one
        chunk of rows as Python objects at a time (`fetch_all` would hold all of them at the peak)."""
        raise StorageError(f"{type(self).__name__} cannot iterate")

    async def release_memory(self) -> None:
        """Gives back what the start-up loads used once (they read whole tables): the C heap's free memory."""
        trim_c_heap()

    @property
    def connection_count(self) -> int:
        """Connections open now (the writer and the readers)."""
        return 0

    async def probe(self, timeout_seconds: float) -> DatabaseProbe:
        """Whether the database can take a write within `timeout_seconds`, its schema version and its size, asked
        on a connection of its own: never the writer (which a wait cut short could leave inside a transaction),
        not a pooled reader (so health's own questions do not count in the query times it reports). Nothing
        is written."""
        raise StorageError(f"{type(self).__name__} cannot be probed")


@dataclass(frozen=True, slots=True)
class DatabaseProbe:
    refused: str | None
    """Why the database cannot take a write now; None when it can."""
    schema_version: int | None
    """The newest migration applied; None when it cannot be read."""
    size_bytes: int | None
    """What the database takes on disk: SQLite's file with its WAL; PostgreSQL's `pg_database_size`."""


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
        self._opened = contextlib.AsyncExitStack()
        self._writer: SqliteConnection | None = None
        self._write_lock = asyncio.Lock()
        self.breaker = WriteBreaker(self.busy_timeout_ms)
        self._writer_busy_ms = self.busy_timeout_ms
        """The busy_timeout the writer connection has now (a probe sets 0, a deadline less)."""
        self._readers: asyncio.Queue[SqliteConnection] = asyncio.Queue()
        self.statements = 0
        """Statements sent to SQLite since start (reads and writes): tests and the benchmark count queries."""
        self.timings = SqlTimings()
        self._open_connections = 0

    async def connect(self) -> None:
        """Opens the writer and the readers; when one fails, those already open are closed again."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        async with contextlib.AsyncExitStack() as opened:
            opened.callback(self._forget_connections)
            self._writer = await self._open(opened)
            for _ in range(self.pool_size):
                self._readers.put_nowait(await self._open(opened))
            self._opened = opened.pop_all()

    async def _open(self, opened: contextlib.AsyncExitStack) -> SqliteConnection:
        # isolation_level=None: no implicit transactions; `writer()` says BEGIN IMMEDIATE and COMMIT itself.
        raw = await aiosqlite.connect(self.path, isolation_level=None)
        self._open_connections += 1
        opened.push_async_callback(self._close, raw)
        for pragma in PRAGMAS:
            await raw.execute(pragma)
        await raw.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms:d}")
        await raw.execute(f"PRAGMA cache_size=-{self.cache_kib:d}")
        return SqliteConnection(raw)

    async def _close(self, raw: aiosqlite.Connection) -> None:
        self._open_connections -= 1
        await _close(raw)

    @property
    def connection_count(self) -> int:
        return self._open_connections

    async def probe(self, timeout_seconds: float) -> DatabaseProbe:
        return await asyncio.to_thread(_probe_sqlite, self.path, timeout_seconds)

    def _forget_connections(self) -> None:
        self._writer = None
        while not self._readers.empty():
            self._readers.get_nowait()

    async def disconnect(self) -> None:
        """Closes every connection, in reverse order of opening (nothing happens when none is open)."""
        opened, self._opened = self._opened, contextlib.AsyncExitStack()
        await opened.aclose()

    @contextlib.asynccontextmanager
    async def writer(self, *, durable: bool = False) -> AsyncIterator[Connection]:
        """The writer connection inside one `BEGIN IMMEDIATE` transaction; committed on success, else rolled back.
        SQLite waits for another process's lock in `BEGIN IMMEDIATE` (busy_timeout), so that is where the
        wait is bounded; once it holds the lock the transaction runs to its end."""
        if self._writer is None:
            raise StorageError("the database is not connected")
        async with self._turn(self._write_lock):
            wrapped = self._writer
            conn = wrapped.raw
            started = time.perf_counter()
            was_open = self.breaker.is_open
            wait_ms = self.breaker.wait_ms()
            try:
                if wait_ms != self._writer_busy_ms:
                    await conn.execute(f"PRAGMA busy_timeout={wait_ms:d}")
                    self._writer_busy_ms = wait_ms
                if durable:
                    await conn.execute("PRAGMA synchronous=FULL")
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                await self._normal_sync(conn, durable)
                self.timings.record(WRITE, time.perf_counter() - started)
                error = storage_error(exc, "start a write")
                if isinstance(error, DatabaseUnavailable):
                    raise self._refused(error, was_open=was_open, waited_ms=wait_ms) from exc
                raise error from exc
            try:
                try:
                    yield wrapped
                except BaseException as exc:
                    with contextlib.suppress(sqlite3.Error):
                        await conn.execute("ROLLBACK")
                    if isinstance(exc, sqlite3.Error) and is_unavailable(exc):
                        # disk full, an I/O error in the middle of the write
                        error = DatabaseUnavailable(f"the database cannot write now: {exc}")
                        raise self._refused(error, was_open=was_open, waited_ms=wait_ms) from exc
                    raise
                try:
                    await conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    with contextlib.suppress(sqlite3.Error):
                        await conn.execute("ROLLBACK")
                    error = storage_error(exc, "commit")
                    if isinstance(error, DatabaseUnavailable):
                        raise self._refused(error, was_open=was_open, waited_ms=wait_ms) from exc
                    raise error from exc
            finally:
                await self._normal_sync(conn, durable)
                self.timings.record(WRITE, time.perf_counter() - started)
            self.breaker.succeeded()

    @staticmethod
    async def _normal_sync(conn: aiosqlite.Connection, durable: bool) -> None:
        if durable:
            with contextlib.suppress(sqlite3.Error):
                await conn.execute("PRAGMA synchronous=NORMAL")

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[Connection]:
        """A reader connection from the pool (waits when all are busy)."""
        if self._writer is None:
            raise StorageError("the database is not connected")
        conn = await self._readers.get()
        started = time.perf_counter()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)
            self.timings.record(READ, time.perf_counter() - started)

    async def iterate(self, sql: str, size: int, params: Any = ()) -> AsyncIterator[list[Row]]:
        self.statements += 1
        async with self.reader() as conn:
            assert isinstance(conn, SqliteConnection)
            async with conn.raw.execute(sql, params) as cursor:
                while rows := await cursor.fetchmany(size):
                    yield rows  # type: ignore[misc]  # tuples: no row_factory

    async def release_memory(self) -> None:
        """The page cache of every idle connection (`PRAGMA shrink_memory`), then the C heap's free memory (see
        `trim_c_heap`). Measured on a site of 100,000 points: 4 MB of resident memory."""
        idle: list[SqliteConnection] = []
        while not self._readers.empty():
            idle.append(self._readers.get_nowait())
        try:
            for conn in idle:
                await conn.raw.execute("PRAGMA shrink_memory")
        finally:
            for conn in idle:
                self._readers.put_nowait(conn)
        trim_c_heap()


def _probe_sqlite(path: str, timeout_seconds: float) -> DatabaseProbe:
    """Takes SQLite's write lock (BEGIN IMMEDIATE) on a connection of its own, waiting at most
    `timeout_seconds` for another connection or process to let go of it, and lets go at once; then reads the
    schema version (WAL readers do not wait for the writer) and the files' sizes."""
    size = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            size += os.stat(path + suffix).st_size
    try:
        probe = sqlite3.connect(path, timeout=timeout_seconds, isolation_level=None)
    except sqlite3.Error as exc:
        return DatabaseProbe(f"the database cannot be opened: {exc}", None, size)
    try:
        refused = None
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.Error as exc:
            refused = f"the database cannot take a write within {timeout_seconds:g} s: {exc}"
        try:
            version = probe.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
        except sqlite3.Error:
            version = None
        return DatabaseProbe(refused, version, size)
    finally:
        probe.close()


async def _close(conn: aiosqlite.Connection) -> None:
    """Closes one connection; a failure is logged, not raised, so that the other connections still close."""
    try:
        await conn.close()
    except Exception:
        log.warning("closing a database connection failed", exc_info=True)
