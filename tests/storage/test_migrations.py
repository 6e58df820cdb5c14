from __future__ import annotations

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
