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
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Iterator
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
    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"t3000gql_test_{os.getpid()}"
        self.template = f"{self.prefix}_template"
        self._numbers = itertools.count(1)
        self._template_built = False

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
        """Creates the template database and migrates it with t3000gql's own migrations."""
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

    def create_database(self, *, migrated: bool = True) -> str:
        """A new database: a copy of the migrated template, or (`migrated=False`) an empty one."""
        database = f"{self.prefix}_{next(self._numbers)}"
        template = f' TEMPLATE "{self.template}"' if migrated else ""
        run_async(
            lambda: self._admin(
                f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', f'CREATE DATABASE "{database}"{template}'
            )
        )
        return database

    def drop_database(self, database: str) -> None:
        run_async(lambda: self._admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))

    def close(self) -> None:
        if self._template_built:
            self.drop_database(self.template)


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
