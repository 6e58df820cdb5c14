"""Shared fixtures: a database per test on each backend, a fake clock, and checks for local services.

Every test that stores something asks for `database_url` (directly or through `settings`, `store`, …), and
that fixture is parametrized by backend: `sqlite` (a file under tmp_path) always, and `postgresql` when
T3000GQL_TEST_POSTGRES_URL names a server (a database of its own per test, created from a template that is
migrated once per run, dropped afterwards). So one test body runs on both databases; a test that is about
SQLite itself (file locks, WAL, sqlite_master) says so with `@pytest.mark.sqlite_only("why")`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from t3000gql.config import Settings
from t3000gql.storage.store import Store
from tests.postgres import POSTGRES_URL_ENV, NewDatabase, PostgresServer

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
NOW_MS = 1_790_000_000_000  # 2026-09-21T...Z: a fixed "now" so nothing depends on the machine's clock


class FakeClock:
    """A clock tests move by hand: no sleeping."""

    def __init__(self, now_ms: int = NOW_MS) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, seconds: float) -> None:
        self.now_ms += int(seconds * 1000)


def require_service(host: str, port: int, name: str) -> None:
    """Skips the test when a local service is absent, or fails when CI demands every service
    (T3000GQL_REQUIRE_SERVICES=1)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError as exc:
        message = f"{name} is not reachable at {host}:{port} ({exc})"
    if os.environ.get("T3000GQL_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " and T3000GQL_REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture
def redis_url() -> str:
    """The local Redis as a BROADCAST_URL (skips, or fails under T3000GQL_REQUIRE_SERVICES=1, when absent)."""
    require_service(REDIS_HOST, REDIS_PORT, "Redis")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}"


BACKENDS = ["sqlite", *(["postgresql"] if os.environ.get(POSTGRES_URL_ENV) else [])]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the test is about SQLite itself; not run on PostgreSQL"
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The PostgreSQL server of T3000GQL_TEST_POSTGRES_URL, with a migrated template database (made once per
    run, dropped at its end). Skips (or fails under T3000GQL_REQUIRE_SERVICES=1) when it cannot be reached."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(f"PostgreSQL only, and {POSTGRES_URL_ENV} is not set (scripts/test.sh runs SQLite alone)")
    server = PostgresServer(url)
    problem = server.unreachable()
    if problem:
        message = f"PostgreSQL at {url} is not reachable ({problem})"
        if os.environ.get("T3000GQL_REQUIRE_SERVICES") == "1":
            pytest.fail(message + " and T3000GQL_REQUIRE_SERVICES=1")
        pytest.skip(message)
    server.build_template()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgresql": the database kind this run of the test stores in."""
    marker = request.node.get_closest_marker("sqlite_only")
    if request.param != "sqlite" and marker is not None:
        pytest.skip(f"SQLite only: {marker.args[0] if marker.args else 'about SQLite itself'}")
    return str(request.param)


@pytest.fixture
def new_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[NewDatabase]:
    """Makes new databases of the test's backend: `new_database_url("twin")` is a DATABASE_URL. On
    PostgreSQL each is created (migrated already, from the template; `migrated=False`: empty) and dropped
    after the test."""
    created: list[str] = []
    server: PostgresServer | None = request.getfixturevalue("postgres_server") if backend != "sqlite" else None

    def make(name: str, *, migrated: bool = True) -> str:
        if server is None:
            return f"sqlite:///{tmp_path / name}.db"
        database = server.create_database(migrated=migrated)
        created.append(database)
        return server.url_of(database)

    try:
        yield make
    finally:
        if server is not None:
            for database in created:
                server.drop_database(database)


@pytest.fixture
def database_url(new_database_url: NewDatabase) -> str:
    """The test's database (SQLite: `t3000gql.db` under tmp_path)."""
    return new_database_url("t3000gql")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "t3000gql.db"


ANY_YEAR_SKEW_SECONDS = 200 * 365 * 86400
"""Lower-layer tests write samples of any year (partitions, retention) against a fixed clock; the rule that
refuses samples from the future (MAX_CLOCK_SKEW_SECONDS) has tests of its own."""


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # ARCHIVE_DIR and BACKUP_DIR under tmp_path: on PostgreSQL their defaults are the working directory (the
    # checkout, in tests)
    return Settings.defaults(
        database_url=database_url,
        database_pool_size=2,
        max_clock_skew_seconds=ANY_YEAR_SKEW_SECONDS,
        archive_dir=str(tmp_path / "archive"),
        backup_dir=str(tmp_path / "backups"),
    )


@pytest.fixture
async def store(settings: Settings, clock: FakeClock) -> AsyncIterator[Store]:
    opened = await Store.open(settings, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()
