"""`t3000gql copy-db`: a whole SQLite database into PostgreSQL, in batches, resumable, checked at the end.

Every table of the source is copied (whatever the migrations made: registry, cache, history, stations, audit,
checkpoints, and tables added later), parents before children (by the source's foreign keys), yearly history
tables last, each into the target table of the same name after the target was migrated to the same schema
version. Each batch is one transaction on the target: COPY into a staging table, then one
`INSERT … SELECT … ON CONFLICT DO NOTHING` (a history batch that is all new goes straight in by COPY), so a run
that is interrupted and started again continues: a table whose integer key the target already holds a prefix
of is read on after that key, and any row copied twice is kept once. At the end the row count of every table
and the count and sum of values of every yearly partition are compared on both sides.

This is a storage job like retention: it writes every table, through COPY (`Connection.copy_rows`), outside
the tables' owners; the target must not be served while it runs (docs/architecture.md, "Who owns which
table").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from t3000gql.errors import ConfigError, MigrationError
from t3000gql.storage.connection import Connection
from t3000gql.storage.database import Database
from t3000gql.storage.migrations import current_version, migrate
from t3000gql.storage.partitions import year_bounds

DEFAULT_BATCH_ROWS = 50_000
_PARTITION = re.compile(r"^timeseries_data_(\d{4})$")
_ROLLUPS = re.compile(r"^rollups_(\d{4})$")
_SKIPPED = {"schema_version"}
"""Recorded by each database's own migrations, not copied."""


@dataclass(frozen=True, slots=True)
class SourceTable:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    """Primary key columns, in key order (the rowid alias for a plain `id INTEGER PRIMARY KEY`)."""
    integer_key: bool
    """Every key column is an integer: batches are committed in key order, so a re-run reads on after the
    highest key the target holds."""
    rows: int
    year: int | None = None
    """The year of a history partition, None for other tables."""


@dataclass(frozen=True, slots=True)
class Comparison:
    what: str
    """`rows devices` or `sum timeseries_data_2025`."""
    source: float
    target: float

    @property
    def same(self) -> bool:
        return math.isclose(self.source, self.target, rel_tol=1e-9, abs_tol=1e-6)


@dataclass
class CopyReport:
    copied: dict[str, int] = field(default_factory=dict)
    """Rows written per table in this run (rows the target already held are not counted)."""
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return all(c.same for c in self.comparisons)


class CopyProgress(Protocol):
    def start_table(self, table: str, total_rows: int, done_rows: int) -> None: ...

    def advance(self, rows: int) -> None: ...


class _Silent:
    def start_table(self, table: str, total_rows: int, done_rows: int) -> None:
        return None

    def advance(self, rows: int) -> None:
        return None


async def copy_database(
    source: Database,
    target: Database,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: CopyProgress | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> CopyReport:
    """Copies `source` (SQLite) into `target` (PostgreSQL, migrated here first); returns what it copied and the
    comparison of both sides. Raises ConfigError for a pair it cannot copy, MigrationError for schemas that
    differ."""
    if source.backend != "sqlite" or target.backend != "postgresql":
        raise ConfigError(
            "copy-db",
            f"{source.label} -> {target.label}",
            "a SQLite source (--from) and a PostgreSQL target (--to)",
        )
    if batch_rows < 1:
        raise ConfigError("--batch", str(batch_rows), "a number of rows >= 1")
    progress = progress or _Silent()
    applied = await migrate(target)
    if applied:
        log(f"migrated {target.label}: {', '.join(f'{m.version:04d}_{m.name}' for m in applied)}")
    source_version, target_version = await current_version(source), await current_version(target)
    if source_version != target_version:
        raise MigrationError(
            f"{source.label} is at schema version {source_version} and {target.label} at {target_version}: "
            "run `t3000gql migrate` on the source with this t3000gql first"
        )
    tables = await _source_tables(source)
    report = CopyReport()
    for table in tables:
        report.copied[table.name] = await _copy_table(source, target, table, batch_rows, progress)
    async with target.writer() as conn:
        for table in tables:
            for statement in await _identity_resets(conn, table.name):
                await conn.execute(statement)
    report.comparisons = await _compare(source, target, tables)
    return report


async def _source_tables(source: Database) -> list[SourceTable]:
    """The source's tables in copy order: parents before children, yearly history last."""
    names = [
        row[0]
        for row in await source.fetch_all(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
        if row[0] not in _SKIPPED
    ]
    parents: dict[str, set[str]] = {}
    found: dict[str, SourceTable] = {}
    for name in names:
        info = await source.fetch_all(f"PRAGMA table_info({_quoted(name)})")
        columns = tuple(row[1] for row in info)
        key = tuple(row[1] for row in sorted((r for r in info if r[5] > 0), key=lambda r: r[5]))
        types = {r[1]: str(r[2]).upper() for r in info}
        integer_key = bool(key) and all("INT" in types[k] for k in key)
        parents[name] = {row[2] for row in await source.fetch_all(f"PRAGMA foreign_key_list({_quoted(name)})")} - {
            name
        }
        count = await source.fetch_one(f"SELECT count(*) FROM {_quoted(name)}")
        match = _PARTITION.match(name)
        found[name] = SourceTable(
            name,
            columns,
            key or columns,
            integer_key,
            int(count[0]) if count else 0,
            int(match.group(1)) if match else None,
        )
    ordered: list[SourceTable] = []
    placed: set[str] = set()
    pending = [n for n in names if found[n].year is None] + [n for n in names if found[n].year is not None]
    while pending:
        ready = [n for n in pending if parents[n] <= placed | (parents[n] - set(names))]
        if not ready:  # a cycle of foreign keys: keep the order by name
            ready = pending[:1]
        for name in ready:
            ordered.append(found[name])
            placed.add(name)
            pending.remove(name)
    return ordered


def _quoted(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise MigrationError(f"table name {name!r} is not a plain identifier")
    return name


async def _copy_table(
    source: Database, target: Database, table: SourceTable, batch_rows: int, progress: CopyProgress
) -> int:
    name = _quoted(table.name)
    columns = ", ".join(table.columns)
    key = ", ".join(table.key)
    if table.year is not None:
        async with target.writer() as conn:
            for statement in conn.dialect.create_partition(name, *year_bounds(table.year)):
                await conn.execute(statement)
    elif rollup := _ROLLUPS.match(name):  # a year's rollups (storage/rollups.py) are a partition there too
        async with target.writer() as conn:
            for statement in conn.dialect.create_rollup_partition(name, *year_bounds(int(rollup.group(1)))):
                await conn.execute(statement)
    after: tuple[Any, ...] | None = None
    held = await target.fetch_one(f"SELECT count(*) FROM {name}")
    done = int(held[0]) if held else 0
    if table.integer_key and done:
        descending = ", ".join(f"{k} DESC" for k in table.key)
        last = await target.fetch_one(f"SELECT {key} FROM {name} ORDER BY {descending} LIMIT 1")
        if last is not None:
            marks = ", ".join("?" for _ in table.key)
            before = await source.fetch_one(f"SELECT count(*) FROM {name} WHERE ({key}) <= ({marks})", tuple(last))
            # The target holds a prefix of the source in key order (what an interrupted run leaves): read on
            # after it. Anything else (rows deleted or added by hand) is read whole; existing keys are kept.
            if before is not None and int(before[0]) == done:
                after = tuple(last)
    progress.start_table(table.name, table.rows, min(done, table.rows))
    copied = 0
    while True:
        if after is None:
            where, params = "", ()
        else:
            marks = ", ".join("?" for _ in table.key)
            where, params = f" WHERE ({key}) > ({marks})", after
        rows: Sequence[Sequence[Any]] = await source.fetch_all(
            f"SELECT {columns} FROM {name}{where} ORDER BY {key} LIMIT ?", (*params, batch_rows)
        )
        if not rows:
            return copied
        async with target.writer() as conn:
            if table.year is not None and await conn.insert_new(name, table.columns, rows):
                copied += len(rows)
            else:
                copied += await _merge_batch(conn, name, table.columns, rows)
        progress.advance(len(rows))
        positions = [table.columns.index(k) for k in table.key]
        after = tuple(rows[-1][i] for i in positions)
        if len(rows) < batch_rows:
            return copied


async def _merge_batch(conn: Connection, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Rows the target may partly hold already: staged by COPY, inserted by one statement, existing keys kept.
    Returns how many were new."""
    stage = f"copy_stage_{name}"
    listed = ", ".join(columns)
    await conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {name}) ON COMMIT DELETE ROWS")
    await conn.copy_rows(stage, columns, rows)
    return await conn.execute(f"INSERT INTO {name} ({listed}) SELECT {listed} FROM {stage} ON CONFLICT DO NOTHING")


async def _identity_resets(conn: Connection, table: str) -> list[str]:
    """Identity columns continue after the highest copied id (else the next insert would collide)."""
    rows = await conn.fetch_all(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ? AND is_identity = 'YES'",
        (table,),
    )
    return [
        f"SELECT setval(pg_get_serial_sequence('{table}', '{row[0]}'), "
        f"coalesce((SELECT max({row[0]}) FROM {table}), 1), (SELECT count(*) > 0 FROM {table}))"
        for row in rows
    ]


async def _compare(source: Database, target: Database, tables: Sequence[SourceTable]) -> list[Comparison]:
    found: list[Comparison] = []
    for table in tables:
        name = _quoted(table.name)
        if table.year is None:
            left = await source.fetch_one(f"SELECT count(*) FROM {name}")
            right = await target.fetch_one(f"SELECT count(*) FROM {name}")
            found.append(Comparison(f"rows {name}", _number(left), _number(right)))
            continue
        statement = f"SELECT count(*), coalesce(sum(value), 0) FROM {name}"
        left, right = await source.fetch_one(statement), await target.fetch_one(statement)
        found.append(Comparison(f"rows {name}", _number(left), _number(right)))
        found.append(Comparison(f"sum {name}", _number(left, 1), _number(right, 1)))
    return found


def _number(row: Sequence[Any] | None, position: int = 0) -> float:
    return float(row[position]) if row is not None and row[position] is not None else 0.0
