"""The `databases` per-task connection trick: one long-lived, distinct connection per call.

`databases.Database.connection()` keys connections by the asyncio task that asks (`Database._connection_map`),
so every call from one task returns the same connection. We keep a writer and a pool of readers for the life of
the process (t3000gql/storage/database.py says why), so each is acquired in a task of its own; it is released
later from another task, which `databases.core.Connection.__aexit__` allows (it releases by its own counter).
The aiosqlite connection is `Connection.raw_connection`.
"""

from __future__ import annotations

import asyncio

import aiosqlite
import databases
from databases.core import Connection

from t3000gql.compat import require

DISTRIBUTION = "databases"
WRITTEN_AGAINST = "0.9.0"


async def acquire_own_connection(database: databases.Database) -> tuple[Connection, aiosqlite.Connection]:
    """A connection no other caller shares, with its raw aiosqlite connection; give it back with `release`."""

    async def acquire() -> Connection:
        holder = database.connection()
        await holder.__aenter__()
        return holder

    holder = await asyncio.create_task(acquire())
    return holder, holder.raw_connection


async def release(holder: Connection) -> None:
    await holder.__aexit__(None, None, None)


def check() -> None:
    """The internals the trick relies on: connections kept per task, entered and left by hand."""
    require(
        "_connection_map" in getattr(databases.Database, "__annotations__", {}),
        DISTRIBUTION,
        WRITTEN_AGAINST,
        "databases.Database no longer keeps connections per task in `_connection_map`",
    )
    require(
        all(hasattr(Connection, name) for name in ("__aenter__", "__aexit__", "raw_connection")),
        DISTRIBUTION,
        WRITTEN_AGAINST,
        "databases.core.Connection lost __aenter__/__aexit__/raw_connection",
    )
