"""The PostgreSQL floor of the storage scenarios: plain asyncpg on a database of its own with the same layout
(`timeseries_data` partitioned by year, the same columns and primary key), written with binary COPY into the
year's partition and read with one plain SELECT per partition. What t3000gql's write and read paths cost on
PostgreSQL is measured against this.
"""

from __future__ import annotations

import asyncpg

from t3000gql.storage.partitions import partition_table, year_bounds, year_of_ms

PG_FLOOR = "asyncpg on its own database, same partition layout: COPY into the year's partition, plain SELECT"

_PARENT = """
CREATE TABLE timeseries_data (
    point_id bigint NOT NULL, ts bigint NOT NULL, value double precision NOT NULL, trend_log_id bigint,
    quality integer NOT NULL DEFAULT 0, source_id bigint, PRIMARY KEY (point_id, ts)
) PARTITION BY RANGE (ts)
"""


class PostgresFloor:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.tables: set[str] = set()

    @classmethod
    async def open(cls, url: str) -> PostgresFloor:
        conn = await asyncpg.connect(url, server_settings={"jit": "off"})
        await conn.execute(_PARENT)
        return cls(conn)

    async def close(self) -> None:
        await self.conn.close()

    async def insert(self, rows: list[tuple[int, int, float]]) -> None:
        """rows: (point_id, ts, value); one transaction, one COPY per year partition."""
        by_table: dict[str, list[tuple[int, int, float]]] = {}
        for row in rows:
            by_table.setdefault(partition_table(year_of_ms(row[1])), []).append(row)
        async with self.conn.transaction():
            for table, part in by_table.items():
                if table not in self.tables:
                    start, end = year_bounds(int(table[-4:]))
                    await self.conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {table} PARTITION OF timeseries_data "
                        f"FOR VALUES FROM ({start}) TO ({end})"
                    )
                    self.tables.add(table)
                await self.conn.copy_records_to_table(table, records=part, columns=["point_id", "ts", "value"])

    async def insert_batches(self, batches: list[list[tuple[int, int, float]]]) -> None:
        for rows in batches:
            await self.insert(rows)

    def tables_between(self, start: int, end: int) -> list[str]:
        years = range(year_of_ms(start), year_of_ms(end - 1) + 1)
        return [t for y in years if (t := partition_table(y)) in self.tables]

    async def read(self, point_id: int, start: int, end: int) -> int:
        count = 0
        for table in self.tables_between(start, end):
            rows = await self.conn.fetch(
                f"SELECT ts, value FROM {table} WHERE point_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts",
                point_id,
                start,
                end,
            )
            count += len(rows)
        return count

    async def aggregate(self, point_id: int, start: int, end: int, width_ms: int) -> int:
        count = 0
        for table in self.tables_between(start, end):
            rows = await self.conn.fetch(
                f"SELECT ts / $1 AS b, avg(value), min(value), max(value) FROM {table} "
                "WHERE point_id = $2 AND ts >= $3 AND ts < $4 GROUP BY b",
                width_ms,
                point_id,
                start,
                end,
            )
            count += len(rows)
        return count
