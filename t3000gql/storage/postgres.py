"""PostgreSQL behind the storage interface: asyncpg directly, one writer connection and a pool of readers.

Why asyncpg and not the `databases` layer: its rows are copied per row into its own record type, and it has no
COPY. Here a range read is one `fetch` (asyncpg records are read by position, like SQLite's tuples) and a bulk
write is one binary COPY. The pool is ours: at most DATABASE_POOL_SIZE readers, opened when first needed and kept
(a server that reads one thing at a time holds one connection of the database's `max_connections`, not ten);
asyncpg's own pool sends a reset statement on every release, a round trip per query.

Writes of one process take turns on the writer connection, as on SQLite, so the table owners' read-then-write
steps stay simple; several processes write at once, and the database's own locks keep them apart (a lock
waited for longer than DATABASE_BUSY_TIMEOUT_MS fails the write as DatabaseUnavailable, like SQLite's busy
timeout).

Statements are written with `?` parameter marks once, for both databases; `pg_sql` numbers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from t3000gql.config import DEFAULTS
from t3000gql.errors import ConfigError, DatabaseUnavailable, StorageError
from t3000gql.storage.availability import PROBE_WAIT_MS, WriteBreaker
from t3000gql.storage.connection import Connection, Row
from t3000gql.storage.database import Database, DatabaseProbe
from t3000gql.storage.dialects import POSTGRES
from t3000gql.storage.timing import READ, WRITE, SqlTimings

log = logging.getLogger(__name__)

_MARK = re.compile(r"'(?:[^']|'')*'|\?")

UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.LockNotAvailableError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.DiskFullError,
    asyncpg.QueryCanceledError,
)
"""Errors that say "the database cannot do this now, try later" rather than "this statement is wrong"."""

LOST: tuple[type[BaseException], ...] = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    ConnectionError,
)
"""The connection itself is gone (the server restarted, an administrator ended it): a new one may work."""


@functools.lru_cache(maxsize=2048)
def pg_sql(sql: str) -> str:
    """`?` parameter marks numbered as `$1, $2, …` (a `?` inside a quoted literal is left alone)."""
    counter = 0

    def number(match: re.Match[str]) -> str:
        nonlocal counter
        if match.group(0) != "?":
            return match.group(0)
        counter += 1
        return f"${counter}"

    return _MARK.sub(number, sql)


PROBE_CONNECT_SECONDS = 5.0
"""The write probe's connection may take this long to open (a new session costs a fork on the server; a busy
machine takes a second or more): what the probe judges is the wait for the lock, HEALTH_WRITE_PROBE_SECONDS."""


class _ProbeDone(Exception):
    """Rolls back the write probe's transaction (it only had to take its lock)."""


def _rowcount(status: str) -> int:
    """Rows changed, from a command tag such as `INSERT 0 5`, `UPDATE 3`, `DELETE 0`."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() and status.split(" ", 1)[0] in {"INSERT", "UPDATE", "DELETE"} else 0


def unavailable(exc: BaseException, action: str) -> StorageError:
    if isinstance(exc, UNAVAILABLE):
        return DatabaseUnavailable(f"the database cannot {action} now: {exc}")
    return StorageError(f"the database failed to {action}: {exc}")


def dsn_of(url: str) -> str:
    """The asyncpg DSN of a DATABASE_URL (`postgresql+asyncpg://` and `postgres://` are taken too)."""
    parts = urlsplit(url)
    scheme = parts.scheme.partition("+")[0]
    if scheme not in ("postgresql", "postgres"):
        raise ConfigError("DATABASE_URL", url, "a postgresql:// URL")
    if not parts.path.strip("/"):
        raise ConfigError("DATABASE_URL", url, "a database name, e.g. postgresql://user@host:5432/t3000gql")
    return urlunsplit(parts._replace(scheme="postgresql"))


def redacted(url: str) -> str:
    """The URL without its password (what logs, /health and the CLI show)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresConnection(Connection):
    dialect = POSTGRES

    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        status = await self.raw.execute(pg_sql(sql), *params)
        return _rowcount(status)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            await self.raw.executemany(pg_sql(sql), rows)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self.raw.fetch(pg_sql(sql), *params)

    async def execute_script(self, script: str) -> None:
        await self.raw.execute(script)  # no parameters: the simple protocol runs every statement of the script

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self.raw.copy_records_to_table(table, records=rows, columns=list(columns))

    async def insert_new(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        constants: Mapping[str, int | None] | None = None,
    ) -> bool:
        # COPY straight into the year's table, in a savepoint: a key that exists fails the COPY as a whole and
        # the savepoint takes it back, so the caller merges through the staging table instead.
        if constants:
            tail = tuple(constants.values())
            columns, rows = [*columns, *constants], [(*row, *tail) for row in rows]
        try:
            async with self.raw.transaction():
                await self.raw.copy_records_to_table(table, records=rows, columns=list(columns))
        except asyncpg.UniqueViolationError:
            return False
        return True


class PostgresDatabase(Database):
    """One writer connection and DATABASE_POOL_SIZE readers on one PostgreSQL database."""

    dialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = DEFAULTS.database_pool_size,
        busy_timeout_ms: int = DEFAULTS.database_busy_timeout_ms,
    ) -> None:
        self.url = url
        self.dsn = dsn_of(url)
        self.pool_size = pool_size
        self.busy_timeout_ms = int(busy_timeout_ms)
        self.label = redacted(self.dsn)
        self.database_name = urlsplit(self.dsn).path.strip("/")
        self.path = self.label
        self.local_path = f"t3000gql-{self.database_name}"
        self.statements = 0
        self.timings = SqlTimings()
        self._writer: PostgresConnection | None = None
        self._write_lock = asyncio.Lock()
        self.breaker = WriteBreaker(self.busy_timeout_ms)
        self._reader_slots = asyncio.Semaphore(pool_size)
        self._idle: list[PostgresConnection] = []
        self._all: list[PostgresConnection] = []

    async def _open(self) -> PostgresConnection:
        settings = {
            # a lock held by another process is waited for as long as SQLite's busy timeout, then the write fails
            "lock_timeout": str(max(self.busy_timeout_ms, 1)),
            # JIT compiles big scans (a 100k-row range) for ~100 ms it never wins back on these queries
            "jit": "off",
            "application_name": "t3000gql",
        }
        try:
            raw = await asyncpg.connect(self.dsn, server_settings=settings, timeout=10)
        except (
            *UNAVAILABLE,
            TimeoutError,
            asyncpg.InvalidCatalogNameError,
            asyncpg.InvalidAuthorizationSpecificationError,
        ) as exc:
            raise DatabaseUnavailable(f"cannot connect to {self.label}: {exc}") from exc
        conn = PostgresConnection(raw)
        self._all.append(conn)
        return conn

    async def connect(self) -> None:
        """Opens the writer and a first reader (so that a server that cannot be reached fails here); the other
        readers open when reads need them. When one fails, those already open are closed again."""
        try:
            self._writer = await self._open()
            self._idle.append(await self._open())
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        """Closes every connection (nothing happens when none is open)."""
        connections, self._all = self._all, []
        self._writer = None
        self._idle.clear()
        for conn in connections:
            try:
                await conn.raw.close(timeout=5)
            except Exception:
                log.warning("closing a database connection failed", exc_info=True)
                conn.raw.terminate()

    async def _alive(self, conn: PostgresConnection) -> PostgresConnection:
        """The connection, or a new one in its place when the server closed it (a restart, an admin)."""
        if not conn.raw.is_closed():
            return conn
        return await self._replace(conn)

    async def _replace(self, conn: PostgresConnection) -> PostgresConnection:
        with contextlib.suppress(ValueError):
            self._all.remove(conn)
        conn.raw.terminate()
        return await self._open()

    async def _begin(self) -> tuple[PostgresConnection, Any]:
        """The writer inside a new transaction. A writer whose connection was lost since its last use (the
        loop may not have noticed yet) is replaced once: nothing was sent in the transaction yet."""
        assert self._writer is not None
        self._writer = conn = await self._alive(self._writer)
        transaction = conn.raw.transaction()
        try:
            await transaction.start()
        except LOST:
            self._writer = conn = await self._replace(conn)
            transaction = conn.raw.transaction()
            await transaction.start()
        return conn, transaction

    @contextlib.asynccontextmanager
    async def writer(self, *, durable: bool = False) -> AsyncIterator[Connection]:
        """The writer connection inside one transaction; committed on success, else rolled back. PostgreSQL waits
        for another process's lock in the statement that meets it (lock_timeout), so a shorter wait (a probe
        while the breaker is open, a request's deadline) is this transaction's `SET LOCAL lock_timeout`."""
        if self._writer is None:
            raise StorageError("the database is not connected")
        async with self._turn(self._write_lock):
            started = time.perf_counter()
            try:
                was_open = self.breaker.is_open
                wait_ms = self.breaker.wait_ms()
                try:
                    conn, transaction = await self._begin()
                except DatabaseUnavailable as exc:  # no connection could be opened
                    raise self._refused(exc, was_open=was_open, waited_ms=wait_ms) from exc
                except UNAVAILABLE as exc:
                    error = DatabaseUnavailable(f"the database cannot start a write now: {exc}")
                    raise self._refused(error, was_open=was_open, waited_ms=wait_ms) from exc
                try:
                    if wait_ms != self.busy_timeout_ms:
                        await conn.raw.execute(f"SET LOCAL lock_timeout = {max(wait_ms, PROBE_WAIT_MS):d}")
                    if durable:
                        await conn.raw.execute("SET LOCAL synchronous_commit = on")
                    yield conn
                except UNAVAILABLE as exc:
                    with contextlib.suppress(*UNAVAILABLE, asyncpg.PostgresError):
                        await transaction.rollback()
                    error = DatabaseUnavailable(f"the database cannot write now: {exc}")
                    raise self._refused(error, was_open=was_open, waited_ms=wait_ms) from exc
                except BaseException:
                    with contextlib.suppress(*UNAVAILABLE, asyncpg.PostgresError):
                        await transaction.rollback()
                    raise
                try:
                    await transaction.commit()
                except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
                    with contextlib.suppress(*UNAVAILABLE, asyncpg.PostgresError):
                        await transaction.rollback()
                    failure = unavailable(exc, "commit")
                    if isinstance(failure, DatabaseUnavailable):
                        raise self._refused(failure, was_open=was_open, waited_ms=wait_ms) from exc
                    raise failure from exc
                self.breaker.succeeded()
            finally:
                self.timings.record(WRITE, time.perf_counter() - started)

    async def fetch_all(self, sql: str, params: Any = ()) -> list[Row]:
        """One statement on a reader; a read that met a lost connection is sent again once on a new one (a
        read changes nothing, so sending it twice is safe)."""
        try:
            return await super().fetch_all(sql, params)
        except DatabaseUnavailable as exc:
            if not isinstance(exc.__cause__, LOST):
                raise
            return await super().fetch_all(sql, params)

    async def iterate(self, sql: str, size: int, params: Any = ()) -> AsyncIterator[list[Row]]:
        """A server-side cursor inside a read-only transaction, `size` rows a fetch."""
        self.statements += 1
        async with self.reader() as conn:
            assert isinstance(conn, PostgresConnection)
            async with conn.raw.transaction(readonly=True):
                cursor = await conn.raw.cursor(pg_sql(sql), *params)
                while rows := await cursor.fetch(size):
                    yield rows

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[Connection]:
        """A reader connection from the pool: an idle one, or a new one while fewer than DATABASE_POOL_SIZE
        are open (waits when all are busy)."""
        if self._writer is None:
            raise StorageError("the database is not connected")
        async with self._reader_slots:
            conn: PostgresConnection | None = self._idle.pop() if self._idle else None
            started = time.perf_counter()
            try:
                conn = await self._alive(conn) if conn is not None else await self._open()
                yield conn
            except UNAVAILABLE as exc:
                raise unavailable(exc, "read") from exc
            finally:
                if conn is not None and self._writer is not None:
                    self._idle.append(conn)
                self.timings.record(READ, time.perf_counter() - started)

    @property
    def connection_count(self) -> int:
        return sum(not conn.raw.is_closed() for conn in self._all)

    async def probe(self, timeout_seconds: float) -> DatabaseProbe:
        """A new connection that must take a write lock on `schema_version` (the lock every write would meet
        behind an exclusive one) within `timeout_seconds`, in a transaction that is rolled back; then the schema
        version and `pg_database_size`."""
        wait_ms = str(max(int(timeout_seconds * 1000), 1))
        try:
            raw = await asyncpg.connect(
                self.dsn,
                timeout=max(timeout_seconds, PROBE_CONNECT_SECONDS),
                server_settings={"lock_timeout": wait_ms, "application_name": "t3000gql-probe"},
            )
        except (*UNAVAILABLE, TimeoutError, asyncpg.PostgresError) as exc:
            return DatabaseProbe(f"cannot connect to {self.label}: {exc!r}", None, None)
        try:
            refused = None
            try:
                async with raw.transaction():
                    if await raw.fetchval("SELECT pg_is_in_recovery()"):
                        refused = f"{self.label} is a read-only standby"
                    else:
                        await raw.execute("LOCK TABLE schema_version IN ROW EXCLUSIVE MODE")
                    raise _ProbeDone
            except _ProbeDone:
                pass
            except (*UNAVAILABLE, TimeoutError, asyncpg.PostgresError) as exc:
                refused = f"the database cannot take a write within {timeout_seconds:g} s: {exc}"
            try:
                version = await raw.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                size = await raw.fetchval("SELECT pg_database_size(current_database())")
            except (*UNAVAILABLE, asyncpg.PostgresError):
                version = size = None
            return DatabaseProbe(refused, version, size)
        finally:
            raw.terminate()
