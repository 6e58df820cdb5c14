"""A PostgreSQL server for the tests: one template database migrated once per run, and a database per test
created from it (CREATE DATABASE … TEMPLATE copies the migrated schema in a few milliseconds, where migrating
each database would cost a second) and dropped afterwards.

T3000GQL_TEST_POSTGRES_URL names the server (`postgresql://postgres@127.0.0.1:5432/postgres`: its path is the
database the administrative statements connect to). Database names carry the process id, so several runs on
one server (other engineers' test runs) never meet.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import asyncpg

POSTGRES_URL_ENV = "T3000GQL_TEST_POSTGRES_URL"


class NewDatabase(Protocol):
    """The `new_database_url` fixture: a DATABASE_URL of a new database of the test's backend."""

    def __call__(self, name: str, *, migrated: bool = True) -> str: ...


def run_async(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Runs a coroutine on a loop of its own in another thread: fixtures call this from plain and from async
    tests alike, and a running loop cannot run another."""
    outcome: list[Any] = []
    failures: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(asyncio.run(make()))
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=target, name="test-postgres")
    thread.start()
    thread.join()
    if failures:
        raise failures[0]
    return outcome[0]


class PostgresServer:
    """The server of T3000GQL_TEST_POSTGRES_URL for one test run.

    Copying the template costs ~0.3 s of the server's disk time, so a worker thread keeps a few migrated
    databases ready and drops used ones, while the tests run: a test takes a ready database and gives it back
    to be dropped, and waits only when the worker is behind."""

    READY = 3

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"t3000gql_test_{os.getpid()}"
        self.template = f"{self.prefix}_template"
        self._numbers = itertools.count(1)
        self._template_built = False
        self._ready: queue.Queue[str] = queue.Queue()
        self._jobs: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._failure: BaseException | None = None

    def url_of(self, database: str) -> str:
        return urlunsplit(urlsplit(self.url)._replace(path=f"/{database}"))

    async def _admin(self, *statements: str) -> None:
        conn = await asyncpg.connect(self.url, timeout=5)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    def unreachable(self) -> str | None:
        """None when the server answers, else what went wrong."""
        try:
            run_async(lambda: self._admin("SELECT 1"))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def build_template(self) -> None:
        """Creates the template database, migrates it with t3000gql's own migrations, and starts the worker."""
        from t3000gql.storage.database import Database
        from t3000gql.storage.migrations import migrate

        async def build() -> None:
            await self._admin(
                f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)', f'CREATE DATABASE "{self.template}"'
            )
            db = Database.for_url(self.url_of(self.template), pool_size=1)
            await db.connect()
            try:
                await migrate(db)
            finally:
                await db.disconnect()

        run_async(build)
        self._template_built = True
        self._worker = threading.Thread(target=self._work, name="test-postgres-databases", daemon=True)
        self._worker.start()
        for _ in range(self.READY):
            self._jobs.put(("create", ""))

    def _work(self) -> None:
        async def work() -> None:
            conn = await asyncpg.connect(self.url, timeout=5)
            try:
                while (job := await asyncio.to_thread(self._jobs.get)) is not None:
                    kind, name = job
                    if kind == "create":
                        database = f"{self.prefix}_{next(self._numbers)}"
                        await conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{self.template}"')
                        self._ready.put(database)
                    else:
                        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        try:
            asyncio.run(work())
        except BaseException as exc:
            self._failure = exc
            self._ready.put("")  # wake a waiting test: it raises the failure

    def create_database(self, *, migrated: bool = True) -> str:
        """A new database: a copy of the migrated template, or (`migrated=False`) an empty one."""
        if migrated:
            database = self._ready.get(timeout=120)
            if self._failure is not None:
                raise RuntimeError("the test databases' worker failed") from self._failure
            self._jobs.put(("create", ""))
            return database
        database = f"{self.prefix}_{next(self._numbers)}"
        run_async(lambda: self._admin(f'CREATE DATABASE "{database}"'))
        return database

    def drop_database(self, database: str) -> None:
        """Dropped by the worker, after the test (WITH (FORCE): connections left open are closed)."""
        if self._worker is not None and self._worker.is_alive():
            self._jobs.put(("drop", database))
        else:
            run_async(lambda: self._admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))

    def close(self) -> None:
        if self._worker is not None:
            self._jobs.put(None)
            self._worker.join(timeout=120)
        leftovers = []
        while not self._ready.empty():
            leftovers.append(self._ready.get_nowait())
        for database in [d for d in leftovers if d] + ([self.template] if self._template_built else []):
            run_async(lambda database=database: self._admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def execute_sql(database_url: str, *statements: str) -> None:
    """Runs statements on the database from outside the server under test (another process would)."""
    if database_url.startswith("sqlite:"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn, conn:
            for statement in statements:
                conn.execute(statement)
        return

    async def run() -> None:
        conn = await asyncpg.connect(database_url, timeout=5)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    run_async(run)


_LOCKED = (
    "timeseries_data, realtime_data_cache, audit_log, data_sources, devices, monitoring_points, trend_logs, "
    "trend_log_points, stations, power_readings, import_checkpoints"
)


@contextlib.contextmanager
def write_lock_held(database_url: str) -> Iterator[None]:
    """Another connection holds the database's write lock until the block ends, as another process would:
    SQLite's `BEGIN EXCLUSIVE`; on PostgreSQL an EXCLUSIVE lock on every table (reads go on, writes wait)."""
    if database_url.startswith("sqlite:"):
        locker = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        return
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-postgres-lock")
    thread.start()

    def call(make: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(make, loop).result(timeout=30)

    try:
        conn = call(asyncpg.connect(database_url, timeout=5))
        try:
            call(conn.execute(f"BEGIN; LOCK TABLE {_LOCKED} IN EXCLUSIVE MODE"))
            yield
        finally:
            call(conn.close())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def query_sql(database_url: str, statement: str) -> list[tuple[Any, ...]]:
    """The rows of a query run from outside the server under test (as tuples)."""
    if database_url.startswith("sqlite:"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=1)) as conn:
            return [tuple(row) for row in conn.execute(statement).fetchall()]

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(database_url, timeout=5)
        try:
            return [tuple(row) for row in await conn.fetch(statement)]
        finally:
            await conn.close()

    rows: list[tuple[Any, ...]] = run_async(run)
    return rows


@contextlib.asynccontextmanager
async def write_lock_held_async(database_url: str) -> AsyncIterator[None]:
    """`write_lock_held` for a test whose event loop runs the server: taking the lock waits for the server's
    open write transaction to end, so it must not block that loop while it waits."""
    if database_url.startswith("sqlite:"):
        locker = sqlite3.connect(
            database_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False, timeout=30
        )
        await asyncio.to_thread(locker.execute, "BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        return
    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        await conn.execute(f"BEGIN; LOCK TABLE {_LOCKED} IN EXCLUSIVE MODE")
        yield
    finally:
        await conn.close()
