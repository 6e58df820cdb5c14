"""The write breaker and durable commits (t3000gql/storage/availability.py), on both databases, with another
connection holding the write lock as another process would (SQLite: BEGIN EXCLUSIVE; PostgreSQL: EXCLUSIVE locks
on every table)."""

from __future__ import annotations

import pytest

from t3000gql.errors import DatabaseUnavailable
from t3000gql.storage.database import Database
from t3000gql.storage.migrations import migrate
from tests.postgres import write_lock_held_async

INSERT = "INSERT INTO data_sources (source, created_at) VALUES (?, 0)"


async def sources(db: Database) -> list[str]:
    rows = await db.fetch_all("SELECT source FROM data_sources WHERE source LIKE 'test-%' ORDER BY source")
    return [row[0] for row in rows]


async def test_a_refused_write_opens_the_breaker_later_writes_fail_fast_reads_go_on_and_a_commit_closes_it(
    database_url: str,
) -> None:
    db = Database.for_url(database_url, pool_size=1, busy_timeout_ms=300)
    await db.connect()
    await migrate(db)
    try:
        async with write_lock_held_async(database_url):
            with pytest.raises(DatabaseUnavailable):
                async with db.writer() as conn:
                    await conn.execute(INSERT, ("test-first",))
            state = db.breaker.state()
            assert state.open and state.opened == 1 and state.refused_fast == 0 and state.last_error
            with pytest.raises(DatabaseUnavailable, match="refuses writes now"):
                async with db.writer() as conn:  # a probe: the lock without waiting
                    await conn.execute(INSERT, ("test-second",))
            assert db.breaker.state().refused_fast == 1
            assert await sources(db) == []  # reads go on, and nothing of the refused writes is there
        async with db.writer() as conn:  # the first write after the outage succeeds
            await conn.execute(INSERT, ("test-third",))
        state = db.breaker.state()
        assert not state.open and state.opened == 1
        assert await sources(db) == ["test-third"]
    finally:
        await db.disconnect()


async def test_a_durable_write_commits_with_full_sync_and_the_next_write_does_not(database_url: str) -> None:
    db = Database.for_url(database_url, pool_size=1)
    await db.connect()
    await migrate(db)
    sync = "PRAGMA synchronous" if db.backend == "sqlite" else "SHOW synchronous_commit"
    try:
        async with db.writer() as conn:
            usual = (await conn.fetch_all(sync))[0][0]
        async with db.writer(durable=True) as conn:
            durable = (await conn.fetch_all(sync))[0][0]
            await conn.execute(INSERT, ("test-durable",))
        async with db.writer() as conn:
            after = (await conn.fetch_all(sync))[0][0]
    finally:
        await db.disconnect()
    if db.backend == "sqlite":
        assert (usual, durable, after) == (1, 2, 1)  # NORMAL, FULL, NORMAL
    else:
        assert durable == "on" and after == usual
