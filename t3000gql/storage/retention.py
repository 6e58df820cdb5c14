"""Retention: history older than DATA_RETENTION_DAYS goes. Whole old partitions are dropped (cheap, and the
file space is reused; on PostgreSQL detached from `timeseries_data`, then dropped); the one partition that
straddles the cut-off is trimmed row by row."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from t3000gql.domain.timeutil import Clock
from t3000gql.storage import power_readings, rollups
from t3000gql.storage.database import Database
from t3000gql.storage.partitions import PartitionSet, partition_table, year_bounds

log = logging.getLogger(__name__)
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class RetentionReport:
    cutoff_ms: int
    dropped_years: list[int]
    trimmed_year: int | None
    trimmed_rows: int


async def apply_retention(db: Database, partitions: PartitionSet, clock: Clock, days: int) -> RetentionReport:
    cutoff = clock() - days * DAY_MS
    dropped: list[int] = []
    trimmed_year: int | None = None
    trimmed = 0
    async with db.writer() as conn:
        await partitions.load(conn)
        for year in partitions.years:
            start, end = year_bounds(year)
            if end <= cutoff:
                for statement in conn.dialect.drop_partition(partition_table(year)):
                    await conn.execute(statement)
                await rollups.drop_year(conn, year)  # a year's rollups go with its history
                dropped.append(year)
            elif start < cutoff:
                trimmed = await conn.execute(f"DELETE FROM {partition_table(year)} WHERE ts < ?", (cutoff,))
                trimmed_year = year
                await rollups.trimmed(conn, year, cutoff)  # and what summed the rows that went
        # What describes history rows by time (not partitioned) goes at the same cut-off, through its owner.
        await power_readings.delete_before(conn, cutoff)
    for year in dropped:
        partitions.forget(year)
    if dropped or trimmed:
        log.info("retention: dropped partitions %s, trimmed %s rows of %s", dropped, trimmed, trimmed_year)
    return RetentionReport(cutoff, dropped, trimmed_year, trimmed)
