"""`t3000gql backup` and `t3000gql restore` on real databases, with a real server in another process writing
through GraphQL while the backup runs (both backends)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from t3000gql.config import Settings
from t3000gql.services import Services
from t3000gql.storage.database import Database
from t3000gql.storage.migrations import FOLDERS, available_migrations
from t3000gql.storage.store import Store
from tests.api.serve_process import server_process
from tests.postgres import NewDatabase

from .helpers import add_device, table_names

BATCH = 50
"""Samples per storeTimeSeries call: each call is one transaction, so any consistent copy holds whole calls."""
START_MS = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)
STORE = "mutation ($s: [TimeSeriesSampleInput!]!) { storeTimeSeries(samples: $s) { inserted } }"


def cli(database_url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "t3000gql", *args],
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def batch(call: int) -> list[dict[str, object]]:
    """The call-th batch: BATCH consecutive seconds of point 1, value = the sample's number."""
    first = call * BATCH
    return [
        {
            "deviceId": 1001,
            "pointType": "INPUT",
            "pointNumber": 1,
            "value": float(first + i),
            "timestamp": datetime.fromtimestamp((START_MS + (first + i) * 1000) / 1000, UTC).isoformat(),
        }
        for i in range(BATCH)
    ]


async def history_rows(database_url: str) -> list[tuple[int, float]]:
    store = await Store.open(Settings.defaults(database_url=database_url, partition_cleanup_enabled=False))
    try:
        rows = await store.db.fetch_all("SELECT ts, value FROM timeseries_data_2025 ORDER BY ts")
    finally:
        await store.close()
    return [(int(ts), float(value)) for ts, value in rows]


async def prepare(database_url: str) -> None:
    store = await Store.open(Settings.defaults(database_url=database_url, partition_cleanup_enabled=False))
    try:
        await add_device(store)
    finally:
        await store.close()


async def test_a_backup_under_write_load_restores_to_one_consistent_instant(
    database_url: str, tmp_path: Path
) -> None:
    await prepare(database_url)
    backup = tmp_path / "backups" / "site.backup"
    calls = 0
    with server_process(database_url, "memory://", "backup-test") as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            stop = asyncio.Event()
            target, reached = 5, asyncio.Event()

            async def write() -> None:
                nonlocal calls
                while not stop.is_set():
                    response = await client.post(
                        "/graphql", json={"query": STORE, "variables": {"s": batch(calls)}}
                    )
                    assert response.json() == {"data": {"storeTimeSeries": {"inserted": BATCH}}}, response.text
                    calls += 1
                    if calls >= target:
                        reached.set()

            writer = asyncio.create_task(write())
            await asyncio.wait_for(reached.wait(), 60)  # the load is on before the backup starts
            before = calls
            done = await asyncio.to_thread(cli, database_url, "backup", str(backup), cwd=tmp_path)
            during = calls - before
            target = calls + 5
            reached.clear()
            await asyncio.wait_for(reached.wait(), 60)  # and goes on after it
            stop.set()
            await writer
        assert done.returncode == 0, done.stderr
        assert during > 0, "no write happened while the backup ran"
        assert f"wrote {backup}" in done.stdout and "verified:" in done.stdout
        manifest = json.loads(backup.with_name(backup.name + ".json").read_text())
        in_backup = manifest["rows"]["timeseries_data_2025"]
        # One instant: whole transactions only, between what was written before and after the backup. `calls`
        # counts answered writes: the one in flight when the backup ended may be committed (and in it) unanswered.
        assert in_backup % BATCH == 0 and before * BATCH <= in_backup <= (before + during + 1) * BATCH

        # While the server runs, a restore is refused and changes nothing.
        refused = await asyncio.to_thread(cli, database_url, "restore", str(backup), cwd=tmp_path)
        assert refused.returncode == 1 and "a server uses this database" in refused.stderr, refused.stderr
        assert len(await history_rows(database_url)) == calls * BATCH

    restored = await asyncio.to_thread(cli, database_url, "restore", str(backup), cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "verified: " in restored.stdout
    rows = await history_rows(database_url)
    assert rows == [(START_MS + n * 1000, float(n)) for n in range(in_backup)]
    if database_url.startswith("sqlite"):
        copy = sqlite3.connect(backup)
        assert [tuple(r) for r in copy.execute("SELECT ts, value FROM timeseries_data_2025 ORDER BY ts")] == rows
        copy.close()


async def test_restore_refuses_a_damaged_backup_and_leaves_the_database_alone(
    database_url: str, tmp_path: Path
) -> None:
    await prepare(database_url)
    backup = tmp_path / "site.backup"
    assert cli(database_url, "backup", str(backup), cwd=tmp_path).returncode == 0
    again = cli(database_url, "backup", str(backup), cwd=tmp_path)
    assert again.returncode == 1 and "exists already" in again.stderr
    data = bytearray(backup.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = b"\xff" * 4096
    backup.write_bytes(bytes(data))
    store = await Store.open(Settings.defaults(database_url=database_url, partition_cleanup_enabled=False))
    try:
        tables = await table_names(store.db)
    finally:
        await store.close()
    done = cli(database_url, "restore", str(backup), cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    store = await Store.open(Settings.defaults(database_url=database_url, partition_cleanup_enabled=False))
    try:
        assert await table_names(store.db) == tables
        assert await store.db.fetch_one("SELECT count(*) FROM monitoring_points") == (4,)
    finally:
        await store.close()


async def make_database_at_version(database_url: str, version: int) -> None:
    """A database as an older t3000gql left it: the migrations up to `version` only."""
    db = Database.for_url(database_url, pool_size=1)
    await db.connect()
    try:
        async with db.writer() as conn:
            await conn.execute(
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
            )
            for migration in available_migrations(FOLDERS[db.backend]):
                if migration.version > version:
                    break
                await conn.execute_script(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_version VALUES (?, ?, 0)", (migration.version, migration.name)
                )
    finally:
        await db.disconnect()


def migrate_cli(database_url: str, backups: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "t3000gql", "migrate"],
        env={"DATABASE_URL": database_url, "BACKUP_DIR": str(backups), "PATH": "/usr/bin:/bin"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_a_migration_of_an_existing_database_is_preceded_by_a_verified_backup(
    new_database_url: NewDatabase, tmp_path: Path
) -> None:
    url = new_database_url("old", migrated=False)
    await make_database_at_version(url, 2)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the backups should go")
    refused = await asyncio.to_thread(migrate_cli, url, blocked, tmp_path)
    assert refused.returncode == 1 and "the backup before it failed" in refused.stderr, refused.stderr
    backups = tmp_path / "backups"
    done = await asyncio.to_thread(migrate_cli, url, backups, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "applied 0003_access_control" in done.stdout
    taken = sorted(p for p in backups.iterdir() if not p.name.endswith(".json"))
    assert [p.name.startswith("t3000gql-pre-migration-") for p in taken] == [True]
    manifest = json.loads(taken[0].with_name(taken[0].name + ".json").read_text())
    assert manifest["schema_version"] == 2
    # A fresh database (version 0) and one already up to date are not backed up.
    fresh = new_database_url("fresh", migrated=False)
    assert (await asyncio.to_thread(migrate_cli, fresh, backups, tmp_path)).returncode == 0
    assert (await asyncio.to_thread(migrate_cli, url, backups, tmp_path)).returncode == 0
    assert len([p for p in backups.iterdir() if not p.name.endswith(".json")]) == 1


async def test_scheduled_backups_run_on_the_leader_and_keep_the_newest(database_url: str, tmp_path: Path) -> None:
    await prepare(database_url)
    settings = Settings.defaults(
        database_url=database_url,
        partition_cleanup_enabled=False,
        backup_schedule="* * * * * */1",  # every second (cron's optional sixth field)
        backup_keep=2,
        backup_dir=str(tmp_path / "scheduled"),
    )
    async with await Services.start(settings) as leader, await Services.start(settings) as follower:
        assert leader.leadership.is_leader and not follower.leadership.is_leader
        assert leader.backups is not None and follower.backups is not None
        deadline = asyncio.get_running_loop().time() + 60
        while len(leader.backups.taken) < 3:
            assert asyncio.get_running_loop().time() < deadline, "fewer than 3 scheduled backups in 60 s"
            await asyncio.sleep(0.2)
        assert follower.backups.taken == []
        newest = leader.backups.taken[-1]
    files = sorted(p.name for p in (tmp_path / "scheduled").iterdir() if not p.name.endswith(".json"))
    assert len(files) == 2 and newest.path.name in files
    assert all(name.startswith("t3000gql-scheduled-") for name in files)


async def test_restore_refuses_a_backup_of_a_newer_schema(database_url: str, tmp_path: Path) -> None:
    await prepare(database_url)
    backup = tmp_path / "site.backup"
    assert (await asyncio.to_thread(cli, database_url, "backup", str(backup), cwd=tmp_path)).returncode == 0
    manifest = backup.with_name(backup.name + ".json")
    body = json.loads(manifest.read_text())
    body["schema_version"] = 9999
    manifest.write_text(json.dumps(body))
    done = await asyncio.to_thread(cli, database_url, "restore", str(backup), cwd=tmp_path)
    assert done.returncode == 1 and "newer than this t3000gql knows" in done.stderr, done.stderr
