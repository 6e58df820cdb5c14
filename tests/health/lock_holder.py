"""Another process that holds the database's write lock: `python -m tests.health.lock_holder DATABASE_URL` takes
it (SQLite: BEGIN IMMEDIATE; PostgreSQL: an ACCESS EXCLUSIVE lock on schema_version in an open transaction),
prints "locked", and lets go when its stdin closes."""

from __future__ import annotations

import asyncio
import sqlite3
import sys

import asyncpg

from t3000gql.storage.database import backend_of, sqlite_path
from t3000gql.storage.postgres import dsn_of


async def hold_postgres(url: str) -> None:
    conn = await asyncpg.connect(dsn_of(url))
    async with conn.transaction():
        await conn.execute("LOCK TABLE schema_version IN ACCESS EXCLUSIVE MODE")
        print("locked", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await conn.close()


def main(url: str) -> None:
    if backend_of(url) == "postgresql":
        asyncio.run(hold_postgres(url))
        return
    conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.read()
    conn.execute("ROLLBACK")
    conn.close()


if __name__ == "__main__":
    main(sys.argv[1])
