"""Retention: history older than DATA_RETENTION_DAYS goes, but never without a copy and never by a wrong clock.

1. Plan. The cut-off is DATA_RETENTION_DAYS before the *earlier* of now and the newest stored sample's time: a
   clock that jumps years ahead removes nothing, and a site that stopped collecting keeps its last
   DATA_RETENTION_DAYS. Whole old years are dropped (cheap, and the file space is reused; on PostgreSQL
   detached from `timeseries_data`, then dropped); the one year that straddles the cut-off is trimmed; the
   readings' index rows (`power_readings`) go at the same cut-off. `--dry-run` stops here and says what would go.
2. Archive. Each part is written to ARCHIVE_DIR as a Parquet file (storage/archive.py), read back whole.
3. Remove. In one write transaction, each part's rows in the database are compared with its file (count, first
   and last time, sum of values); only a part that agrees is removed, in `_remove_part` (the one place that
   deletes history). A part that changed while it was archived (a late import into an old year) is left for
   the next run, its archive kept. The removal is written to the audit log in the same transaction: who, the
   cut-off, the rows and the archive files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from t3000gql.domain.audit import SYSTEM, Actor
from t3000gql.domain.timeutil import Clock, to_datetime
from t3000gql.storage import power_readings, rollups
from t3000gql.storage.archive import (
    HISTORY,
    READINGS,
    READINGS_FINGERPRINT_SQL,
    Archive,
    fingerprint_of,
    history_fingerprint_sql,
    write_archive,
)
from t3000gql.storage.audit import AuditLog, AuditNote
from t3000gql.storage.connection import Connection
from t3000gql.storage.database import Database
from t3000gql.storage.partitions import PartitionSet, partition_table, year_bounds

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
OPERATION = "retention"


@dataclass(frozen=True, slots=True)
class Part:
    """One thing retention removes: a whole year, the part of a year before the cut-off, or readings' index rows."""

    kind: str
    """HISTORY or READINGS."""
    table: str
    year: int | None
    whole: bool
    rows: int

    def describe(self) -> str:
        what = "whole partition" if self.whole else "rows before the cut-off"
        return f"{self.table}: {what}, {self.rows} rows"


@dataclass(frozen=True, slots=True)
class RetentionReport:
    cutoff_ms: int | None
    """None when there is no history at all (nothing to measure from)."""
    now_ms: int
    newest_sample_ms: int | None
    dry_run: bool
    parts: list[Part]
    """What goes (dry run) or went."""
    archives: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Parts left for the next run because they changed while archived."""

    @property
    def dropped_years(self) -> list[int]:
        return [p.year for p in self.parts if p.kind == HISTORY and p.whole and p.year is not None]

    @property
    def trimmed_year(self) -> int | None:
        return next((p.year for p in self.parts if p.kind == HISTORY and not p.whole), None)

    @property
    def trimmed_rows(self) -> int:
        return sum(p.rows for p in self.parts if p.kind == HISTORY and not p.whole)

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts if p.kind == HISTORY)

    def summary(self) -> str:
        if self.cutoff_ms is None:
            return "no history stored: nothing to remove"
        head = (
            f"cut-off {to_datetime(self.cutoff_ms).isoformat()} (DATA_RETENTION_DAYS before the earlier of now, "
            f"{to_datetime(self.now_ms).isoformat()}, and the newest sample, "
            f"{to_datetime(self.newest_sample_ms).isoformat() if self.newest_sample_ms is not None else '-'})"
        )
        verb = "would remove" if self.dry_run else "removed"
        if not self.parts:
            return f"{head}: nothing to remove"
        lines = [f"{head}: {verb} {self.rows} history rows"]
        lines += [f"  {part.describe()}" for part in self.parts]
        lines += [f"  archived to {path}" for path in self.archives]
        lines += [f"  left for the next run: {why}" for why in self.skipped]
        return "\n".join(lines)


async def newest_sample_ms(db: Database, partitions: PartitionSet) -> int | None:
    """The newest stored sample's time: the newest year that holds any row, its max(ts)."""
    for year in reversed(partitions.years):
        row = await db.fetch_one(f"SELECT max(ts) FROM {partition_table(year)}")
        if row is not None and row[0] is not None:
            return int(row[0])
    return None


async def plan(db: Database, partitions: PartitionSet, clock: Clock, days: int) -> RetentionReport:
    async with db.reader() as conn:
        await partitions.load(conn)
    now = clock()
    newest = await newest_sample_ms(db, partitions)
    if newest is None:
        return RetentionReport(None, now, None, True, [])
    cutoff = min(now, newest) - days * DAY_MS
    parts: list[Part] = []
    for year in partitions.years:
        start, end = year_bounds(year)
        if start >= cutoff:
            break
        table = partition_table(year)
        row = await db.fetch_one(f"SELECT count(*) FROM {table} WHERE ts < ?", (cutoff,))
        rows = int(row[0]) if row else 0
        if end <= cutoff:
            parts.append(Part(HISTORY, table, year, True, rows))
        elif rows:
            parts.append(Part(HISTORY, table, year, False, rows))
    row = await db.fetch_one("SELECT count(*) FROM power_readings WHERE ts < ?", (cutoff,))
    if row is not None and int(row[0]):
        parts.append(Part(READINGS, "power_readings", None, False, int(row[0])))
    return RetentionReport(cutoff, now, newest, True, parts)


async def apply_retention(
    db: Database,
    partitions: PartitionSet,
    clock: Clock,
    days: int,
    *,
    archive_dir: Path,
    audit: AuditLog,
    actor: Actor = SYSTEM,
    dry_run: bool = False,
) -> RetentionReport:
    report = await plan(db, partitions, clock, days)
    if dry_run or report.cutoff_ms is None or not report.parts:
        return report
    cutoff = report.cutoff_ms
    archives: list[tuple[Part, Archive]] = []
    for part in report.parts:
        archive = await write_archive(
            db, archive_dir, kind=part.kind, table=part.table, cutoff_ms=cutoff, whole=part.whole
        )
        archives.append((part, archive))
    removed: list[Part] = []
    skipped: list[str] = []
    dropped: list[int] = []
    async with db.writer() as conn:
        for part, archive in archives:
            now_there = fingerprint_of(
                await conn.fetch_one(
                    history_fingerprint_sql(part.table) if part.kind == HISTORY else READINGS_FINGERPRINT_SQL,
                    (cutoff,),
                )
            )
            if not now_there.same(archive.fingerprint):
                skipped.append(f"{part.table} changed while it was archived ({archive.path} kept)")
                continue
            await _remove_part(conn, part, cutoff)
            removed.append(Part(part.kind, part.table, part.year, part.whole, now_there.rows))
            if part.kind == HISTORY and part.whole and part.year is not None:
                dropped.append(part.year)
        if removed:
            detail = {
                "cutoffMs": cutoff,
                "newestSampleMs": report.newest_sample_ms,
                "removed": [p.describe() for p in removed],
                "archives": [str(a.path) for p, a in archives if _same_part(p, removed)],
                "skipped": skipped,
            }
            await audit.record_in(
                conn, [AuditNote(OPERATION, actor, source=OPERATION, detail=detail)], now_ms=clock()
            )
    for year in dropped:
        partitions.forget(year)
    done = RetentionReport(
        cutoff, report.now_ms, report.newest_sample_ms, False, removed, [a.path for _, a in archives], skipped
    )
    if removed or skipped:
        log.info("retention: %s", done.summary().replace("\n", ";"))
    return done


def _same_part(part: Part, removed: list[Part]) -> bool:
    return any((p.kind, p.table) == (part.kind, part.table) for p in removed)


async def _remove_part(conn: Connection, part: Part, cutoff_ms: int) -> None:
    """The one place retention deletes: a whole year's partition, the rows of a year before the cut-off, or the
    readings' index rows (through their owner). Tables kept per year beside the raw history (rollups) go here
    too, at the same cut-off."""
    if part.kind == READINGS:
        await power_readings.delete_before(conn, cutoff_ms)
    elif part.whole:
        for statement in conn.dialect.drop_partition(part.table):
            await conn.execute(statement)
        if part.year is not None:
            await rollups.drop_year(conn, part.year)  # a year's rollups go with its history
    else:
        await conn.execute(f"DELETE FROM {part.table} WHERE ts < ?", (cutoff_ms,))
        if part.year is not None:
            await rollups.trimmed(conn, part.year, cutoff_ms)  # and what summed the rows that went
