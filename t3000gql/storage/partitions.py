"""Yearly history partitions `timeseries_data_YYYY`, made on the first write into a year.

On SQLite each year is a table of its own made from one template; on PostgreSQL each is a range partition of
the table `timeseries_data` (the statements are the dialect's: `create_partition`, `drop_partition`). Either way
the router here reads and writes the year's table by name. Table names are built only from validated integers
(never from input text), through `partition_table`.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from t3000gql.domain.timeutil import MAX_TS_MS, year_start_ms
from t3000gql.storage.connection import Connection
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
    """Which yearly tables exist. Loaded once, then kept in step by `ensure` and `drop`."""

    def __init__(self) -> None:
        self._years: set[int] = set()

    async def load(self, conn: Connection) -> None:
        names = [row[0] for row in await conn.fetch_all(conn.dialect.list_partitions)]
        self._years = {int(m.group(1)) for name in names if (m := _PARTITION_NAME.match(name))}

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
