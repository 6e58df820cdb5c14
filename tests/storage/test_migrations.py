from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from t3000gql.errors import MigrationError
from t3000gql.storage.database import Database
from t3000gql.storage.migrations import FOLDERS, available_migrations, migrate
from tests.postgres import NewDatabase
from tests.storage.helpers import table_names


async def test_migrations_from_empty_then_rerun_applies_nothing(new_database_url: NewDatabase) -> None:
    db = Database.for_url(new_database_url("empty", migrated=False), pool_size=1)
    await db.connect()
    try:
        applied = await migrate(db)
        assert [m.version for m in applied] == [m.version for m in available_migrations(FOLDERS[db.backend])]
        assert await migrate(db) == []
        tables = await table_names(db)
    finally:
        await db.disconnect()
    assert {"devices", "monitoring_points", "trend_logs", "trend_log_points", "realtime_data_cache"} <= tables
    assert {"audit_log", "data_sources", "schema_version", "stations", "power_readings"} <= tables


def test_both_databases_have_the_same_migrations() -> None:
    """Each SQLite migration has its PostgreSQL twin of the same number and name (and no more)."""
    sqlite = [(m.version, m.name) for m in available_migrations("sqlite")]
    postgres = [(m.version, m.name) for m in available_migrations("postgres")]
    assert sqlite == postgres


async def test_database_newer_than_code_is_refused(database_url: str) -> None:
    db = Database.for_url(database_url, pool_size=1)
    await db.connect()
    try:
        await migrate(db)
        async with db.writer() as conn:
            await conn.execute("INSERT INTO schema_version VALUES (9999, 'future', 0)")
        with pytest.raises(MigrationError, match="newer than this t3000gql knows"):
            await migrate(db)
    finally:
        await db.disconnect()


def test_cli_migrate_creates_the_schema(tmp_path: Path, new_database_url: NewDatabase) -> None:
    env = {"DATABASE_URL": new_database_url("cli", migrated=False), "PATH": "/usr/bin:/bin"}
    first = subprocess.run(
        [sys.executable, "-m", "t3000gql", "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    assert "applied 0001_initial" in first.stdout
    again = subprocess.run(
        [sys.executable, "-m", "t3000gql", "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert again.returncode == 0 and "up to date" in again.stdout


def test_access_control_migration_makes_outputs_and_variables_writable_but_not_a_stations_channels(
    db_path: Path,
) -> None:
    """A database of the version before access control keeps its points; they get `writable` as new ones do."""
    from t3000gql.storage.connection import split_statements

    conn = sqlite3.connect(db_path)
    conn.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER)"
    )
    for migration in available_migrations():
        if migration.name == "access_control":
            break
        for statement in split_statements(migration.sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?, ?, 0)", (migration.version, migration.name))
    conn.executemany(
        "INSERT INTO devices (device_id, device_name, device_type, created_at, updated_at) VALUES (?, ?, ?, 0, 0)",
        [(1, "AHU", "T3-BB"), (1500001, "Meter", "power_station")],
    )
    conn.executemany(
        "INSERT INTO monitoring_points (device_id, point_type, point_number, created_at, updated_at) "
        "VALUES (?, ?, ?, 0, 0)",
        [(1, 0, 1), (1, 1, 1), (1, 2, 1), (1, 3, 1), (1500001, 1, 1), (1500001, 2, 1)],
    )
    conn.commit()
    conn.close()
    done = subprocess.run(
        [sys.executable, "-m", "t3000gql", "migrate"],
        env={"DATABASE_URL": f"sqlite:///{db_path}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "applied 0003_access_control" in done.stdout, done.stderr
    rows = sqlite3.connect(db_path).execute(
        "SELECT device_id, point_type, writable, min_value, max_value FROM monitoring_points ORDER BY id"
    )
    assert list(rows) == [
        (1, 0, 1, None, None),  # output
        (1, 1, 0, None, None),  # input
        (1, 2, 1, None, None),  # variable
        (1, 3, 0, None, None),  # a controller object: not commanded
        (1500001, 1, 0, None, None),  # a station's channels: the station sends them
        (1500001, 2, 0, None, None),
    ]
