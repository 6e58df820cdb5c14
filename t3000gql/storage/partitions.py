"""Yearly history partitions `timeseries_data_YYYY`, made on the first write into a year.

On SQLite each year is a table of its own made from one template; on PostgreSQL each is a range partition of
the table `timeseries_data` (the statements are the dialect's: `create_partition`, `drop_partition`). Either way
the router here reads and writes the year's table by name. Table names are built only from validated integers
(never from input text), through `partition_table`.

Other processes create and drop partitions too (another server's writes, `import-logs`, `retention`), so the set
kept here is a cache of the database's. The read path asks `refresh_for(db, start, end)` before each read: when
the range touches a year the set does not know, one cheap statement says whether the schema changed since the set
was loaded (SQLite's schema version, ~20 us against ~400 us for the smallest range read of 1,000 rows), and only
then is the set reloaded (on PostgreSQL, which has no such version, the one statement reads the list of
partitions itself). A read within known years costs nothing more. Years dropped elsewhere (which the
set still knows) come over the live bus (`forget`: the leader's retention and `t3000gql retention` tell), and
each process's periodic cache cleanup reloads the set as well (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import re
from bisect import bisect_right
from collections.abc import Iterable

from t3000gql.domain.timeutil import MAX_TS_MS, year_start_ms
from t3000gql.storage.connection import Connection
from t3000gql.storage.database import Database
from t3000gql.storage.dialects import SQLITE_PARTITION_TEMPLATE

FIRST_YEAR = 1970
LAST_YEAR = 2099
_PARTITION_NAME = re.compile(r"^timeseries_data_(\d{4})$")

PARTITION_TEMPLATE = SQLITE_PARTITION_TEMPLATE
"""SQLite's yearly table (the benchmark's floors build the same table with plain sqlite3)."""

_YEAR_STARTS = [year_start_ms(year) for year in range(FIRST_YEAR, LAST_YEAR + 2)]


def partition_table(year: int) -> str:
    if not isinstance(year, int) or not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"no partition for year {year!r}")
    return f"timeseries_data_{year:04d}"


def year_of_ms(ts_ms: int) -> int:
    """Calendar year (UTC) of an epoch-ms time in the supported range; a bisect, so cheap in bulk loops."""
    if not 0 <= ts_ms < MAX_TS_MS:
        raise ValueError(f"timestamp {ts_ms} outside 1970..2100")
    return FIRST_YEAR + bisect_right(_YEAR_STARTS, ts_ms) - 1


def year_bounds(year: int) -> tuple[int, int]:
    return _YEAR_STARTS[year - FIRST_YEAR], _YEAR_STARTS[year - FIRST_YEAR + 1]


class PartitionSet:
    """Which yearly tables exist. Loaded once, kept in step by `ensure` and `forget`, and refreshed from the
    database when a read touches a year it does not know (another process may have made it)."""

    def __init__(self) -> None:
        self._years: set[int] = set()
        self._schema_version: int | None = None
        self.refreshes = 0
        """Reloads because the schema had changed (tests and /health see discovery at work)."""
        self._checking: asyncio.Future[None] | None = None

    async def load(self, conn: Connection) -> None:
        version = await _schema_version(conn)
        names = [row[0] for row in await conn.fetch_all(conn.dialect.list_partitions)]
        self._set(names, version)

    def _set(self, names: Iterable[str], schema_version: int | None) -> None:
        self._years = {int(m.group(1)) for name in names if (m := _PARTITION_NAME.match(name))}
        self._schema_version = schema_version

    async def refresh(self, db: Database) -> None:
        """Reloads the set if the schema changed since it was loaded (one statement when it did not). Reads that
        ask while a check is on its way share it (a check takes one hop to a reader thread)."""
        checking = self._checking
        if checking is None or checking.done():
            checking = self._checking = asyncio.ensure_future(self._refresh(db))
        await asyncio.shield(checking)

    async def _refresh(self, db: Database) -> None:
        version = await _schema_version(db)
        if version is not None and version == self._schema_version:
            return
        names = [row[0] for row in await db.fetch_all(db.dialect.list_partitions)]
        before = self._years
        self._set(names, version)
        if self._years != before:
            self.refreshes += 1

    async def refresh_for(self, db: Database, start_ms: int, end_ms: int) -> None:
        """Before a read of [start_ms, end_ms): refreshes when the range touches a year not known here."""
        start_ms, end_ms = max(start_ms, 0), min(end_ms, MAX_TS_MS)
        if end_ms > start_ms:
            await self.refresh_years(db, range(year_of_ms(start_ms), year_of_ms(end_ms - 1) + 1))

    async def refresh_years(self, db: Database, years: Iterable[int]) -> None:
        """Before a read of these years: refreshes when one of them is not known here."""
        if not self._years.issuperset(years):
            await self.refresh(db)

    @property
    def years(self) -> list[int]:
        return sorted(self._years)

    def existing_between(self, start_ms: int, end_ms: int) -> list[int]:
        """Existing partition years that the half-open range [start_ms, end_ms) touches, oldest first."""
        start_ms, end_ms = max(start_ms, 0), min(end_ms, MAX_TS_MS)
        if end_ms <= start_ms:
            return []
        first, last = year_of_ms(start_ms), year_of_ms(end_ms - 1)
        return [year for year in sorted(self._years) if first <= year <= last]

    async def ensure(self, conn: Connection, year: int) -> str:
        """Creates the year's table if needed (inside the caller's write transaction) and returns its name."""
        table = partition_table(year)
        if year not in self._years:
            for statement in conn.dialect.create_partition(table, *year_bounds(year)):
                await conn.execute(statement)
            self._years.add(year)
        return table

    def forget(self, year: int) -> None:
        self._years.discard(year)

    def reset(self, years: set[int]) -> None:
        self._years = set(years)


async def _schema_version(source: Connection | Database) -> int | None:
    """The database's schema version where it has one (SQLite), else None (the caller reads the list)."""
    statement = source.dialect.schema_version
    if statement is None:
        return None
    rows = await source.fetch_all(statement)
    return int(rows[0][0]) if rows else None
