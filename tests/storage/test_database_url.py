"""DATABASE_URL picks the database: clear errors for what cannot be used, and no password in any message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from t3000gql.config import Settings
from t3000gql.domain.inputs import DeviceInput
from t3000gql.errors import ConfigError, DatabaseUnavailable
from t3000gql.storage.database import Database, SqliteDatabase
from t3000gql.storage.postgres import PostgresDatabase
from t3000gql.storage.store import Store
from tests.postgres import PostgresServer, execute_sql

UNREACHABLE = "postgresql://t3000gql:hunter2@127.0.0.1:1/site"  # nothing listens on port 1


def test_the_scheme_chooses_the_implementation(tmp_path: Path) -> None:
    assert isinstance(Database.for_url(f"sqlite:///{tmp_path}/a.db"), SqliteDatabase)
    for url in ("postgresql://u@127.0.0.1:5432/a", "postgres://u@127.0.0.1/a", "postgresql+asyncpg://u@h/a"):
        db = Database.for_url(url)
        assert isinstance(db, PostgresDatabase) and db.backend == "postgresql"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://u@127.0.0.1/a", "a sqlite:/// or postgresql:// URL"),
        ("postgresql://u@127.0.0.1:5432/", "a database name"),
        ("sqlite:///:memory:", "a file path"),
    ],
)
def test_urls_that_cannot_be_used_are_refused_naming_the_setting(url: str, expected: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL") as refused:
        Database.for_url(url)
    assert expected in str(refused.value)


async def test_an_unreachable_server_is_database_unavailable_without_the_password() -> None:
    with pytest.raises(DatabaseUnavailable) as failed:
        await Store.open(Settings.defaults(database_url=UNREACHABLE))
    assert "127.0.0.1:1/site" in str(failed.value) and "hunter2" not in str(failed.value)


def test_the_cli_says_so_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "t3000gql", "migrate"],
        env={"DATABASE_URL": UNREACHABLE, "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("t3000gql: cannot connect to postgresql://t3000gql:***@127.0.0.1:1/site")
    assert "hunter2" not in done.stderr + done.stdout


async def test_connections_the_server_closed_are_replaced_on_their_next_use(
    postgres_server: PostgresServer,
) -> None:
    """An administrator (or a restart) ends every connection of the database: the next read and write work."""
    database = postgres_server.create_database()
    url = postgres_server.url_of(database)
    try:
        async with await Store.open(Settings.defaults(database_url=url, database_pool_size=2)) as store:
            await store.devices.upsert(DeviceInput(7, device_name="before", device_type="T3-BB"))
            execute_sql(
                postgres_server.url,
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'",
            )
            await store.devices.upsert(DeviceInput(8, device_name="after", device_type="T3-BB"))
            rows = await store.db.fetch_all("SELECT device_id FROM devices ORDER BY device_id")
            assert [row[0] for row in rows] == [7, 8]
    finally:
        postgres_server.drop_database(database)
