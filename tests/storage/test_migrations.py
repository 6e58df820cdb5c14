from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from t3000gql.errors import MigrationError
from t3000gql.storage.database import Database
from t3000gql.storage.migrations import available_migrations, migrate


async def test_migrations_from_empty_then_rerun_applies_nothing(db_path: Path) -> None:
    db = Database(f"sqlite:///{db_path}", pool_size=1)
    await db.connect()
    try:
        applied = await migrate(db)
        assert [m.version for m in applied] == [m.version for m in available_migrations()]
        assert await migrate(db) == []
    finally:
        await db.disconnect()
    tables = {
        row[0] for row in sqlite3.connect(db_path).execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    assert {"devices", "monitoring_points", "trend_logs", "trend_log_points", "realtime_data_cache"} <= tables
    assert {"audit_log", "data_sources", "schema_version"} <= tables


async def test_database_newer_than_code_is_refused(db_path: Path) -> None:
    db = Database(f"sqlite:///{db_path}", pool_size=1)
    await db.connect()
    try:
        await migrate(db)
        async with db.writer() as conn:
            await conn.execute("INSERT INTO schema_version VALUES (9999, 'future', 0)")
        with pytest.raises(MigrationError, match="newer than this t3000gql knows"):
            await migrate(db)
    finally:
        await db.disconnect()


def test_cli_migrate_creates_the_file(tmp_path: Path) -> None:
    target = tmp_path / "cli.db"
    env = {"DATABASE_URL": f"sqlite:///{target}", "PATH": "/usr/bin:/bin"}
    first = subprocess.run(
        [sys.executable, "-m", "t3000gql", "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    assert "applied 0001_initial" in first.stdout
    again = subprocess.run(
        [sys.executable, "-m", "t3000gql", "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert again.returncode == 0 and "up to date" in again.stdout
