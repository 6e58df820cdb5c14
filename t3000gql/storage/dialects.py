"""The SQL that differs between SQLite and PostgreSQL, and nothing else.

Repositories write one body of logic with `?` parameter marks and the SQL both databases accept (`ON CONFLICT`,
`RETURNING`, `IS DISTINCT FROM`, window functions); where the two differ they ask the connection's dialect for
the fragment or the statement. A PostgreSQL connection turns `?` into `$1, $2, …` itself
(`t3000gql/storage/postgres.py`), so statements are written once. docs/architecture.md ("Storage interface")
lists what lives here.

Lists of ids travel as one parameter whatever their length: a JSON text on SQLite (`json_each`), an array on
PostgreSQL (`unnest`, `= ANY`), built by `Dialect.id_list`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any


class Dialect(ABC):
    """What one database spells its own way. Statement texts only: no I/O, no state."""

    name: str
    id_rows: str
    """A list parameter as rows of one column `value`: `SELECT value FROM {id_rows}`."""
    pair_rows: str
    """A parameter of (point_id, ts) pairs (`pair_list`) as rows `k(key, pid, ts)`; key counts from 0."""
    range_rows: str
    """A parameter of (point_id, lo, hi) triples (`pair_list` of triples) as rows `r(pid, lo, hi)`."""
    list_partitions: str
    """Names of the existing `timeseries_data_YYYY` tables."""
    schema_version: str | None
    """One value that changes whenever a table is created or dropped (by any process), cheaper to ask than
    `list_partitions`; None where there is none such (the list is read instead)."""
    staging_table: str
    """Creates the write path's staging table `incoming` (private to the connection) if missing."""
    rollup_staging: str | None
    """Creates the rollups' staging table `rollup_incoming` (private to the connection), where bulk upserts go
    through COPY; None where rows are upserted one by one (SQLite: as fast there)."""
    lock_migrations: tuple[str, ...]
    """Statements that make a migration's transaction the only one migrating (beyond the writer's own lock)."""

    def any_of(self, column: str) -> str:
        """`column` is one of the ids of a list parameter (`id_list`)."""
        return f"{column} IN (SELECT value FROM {self.id_rows})"

    @abstractmethod
    def id_list(self, values: Iterable[int]) -> Any:
        """One parameter holding a list of ids, for `any_of` and `id_rows`."""

    @staticmethod
    def pair_list(pairs: Sequence[Sequence[int]]) -> str:
        return json.dumps(pairs, separators=(",", ":"))

    @abstractmethod
    def json_rows(self, *columns: str) -> str:
        """An aggregate: the group's rows as a JSON text of arrays `[[c1, c2, …], …]`."""

    @abstractmethod
    def create_partition(self, table: str, start_ms: int, end_ms: int) -> list[str]:
        """Statements that create one year's history table `table` for [start_ms, end_ms) if it is missing."""

    @abstractmethod
    def drop_partition(self, table: str) -> list[str]:
        """Statements that remove one year's history table with its rows."""

    @abstractmethod
    def create_rollup_partition(self, table: str, start_ms: int, end_ms: int) -> list[str]:
        """Statements that create one year's rollup table `table` (buckets in [start_ms, end_ms)) if missing."""

    @abstractmethod
    def drop_rollup_partition(self, table: str) -> list[str]:
        """Statements that remove one year's rollup table (if it exists)."""

    @abstractmethod
    def bucket_edges(
        self, table: str, where: str, *, last: bool, ts: str = "ts", value: str = "value", key: str = "ts"
    ) -> str:
        """Per (point_id, bucket of `key / width`): the `value` at the first (or last) `ts`, as
        `point_id, bucket, value, ts`. Parameters: the bucket width, then those of `where` (a WHERE clause).
        Raw rows use the defaults; rollup rows name `first`/`first_ts` (`last`/`last_ts`) and `bucket`."""

    @abstractmethod
    def latest_per_point(self, table: str, where: str) -> str:
        """Per point: `point_id, ts, value` of the newest row matching `where` (a condition)."""

    @abstractmethod
    def greatest(self, *terms: str) -> str:
        """The largest of a few values in one row."""

    @abstractmethod
    def json_merge(self, column: str) -> str:
        """A JSON text column with a JSON object parameter merged into it (NULL counts as `{}`)."""

    @abstractmethod
    def merge_reporting(self, existing: str, merge: str) -> tuple[str, str | None]:
        """The write path's merge of the staging table: a query whose rows are `existing` (what was stored
        before the merge) and the statement to run after it, if the merge is not part of the query itself."""


SQLITE_PARTITION_TEMPLATE = """
CREATE TABLE IF NOT EXISTS {table} (
    point_id      INTEGER NOT NULL REFERENCES monitoring_points (id) ON DELETE CASCADE,
    ts            INTEGER NOT NULL,
    value         REAL    NOT NULL,
    trend_log_id  INTEGER,
    quality       INTEGER NOT NULL DEFAULT 0,
    source_id     INTEGER,
    PRIMARY KEY (point_id, ts)
) WITHOUT ROWID
"""
"""History rows are narrow: the point, the time, the value and where it came from. The primary key makes a
range read of one point one sequential scan and makes a re-import update instead of duplicating. One table per
year, so retention drops whole years. (PostgreSQL's parent table, with the same columns and key, is in its
first migration.)"""


SQLITE_ROLLUP_TEMPLATE = """
CREATE TABLE IF NOT EXISTS {table} (
    point_id  INTEGER NOT NULL REFERENCES monitoring_points (id) ON DELETE CASCADE,
    level     INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    total     REAL    NOT NULL,
    low       REAL    NOT NULL,
    high      REAL    NOT NULL,
    first_ts  INTEGER NOT NULL,
    first     REAL    NOT NULL,
    last_ts   INTEGER NOT NULL,
    last      REAL    NOT NULL,
    tw_sum    REAL    NOT NULL,
    max_gap   INTEGER NOT NULL,
    increase  REAL    NOT NULL,
    PRIMARY KEY (point_id, level, bucket)
) WITHOUT ROWID
"""
"""One year's rollups (columns as PostgreSQL's `rollups` in migrations/postgres/0004_rollups.sql): keyed by the
point, the level (bucket width in seconds) and the bucket's start, so a read of one point at one level is one
sequential scan."""


class SqliteDialect(Dialect):
    name = "sqlite"
    id_rows = "json_each(?)"
    pair_rows = "(SELECT key, value ->> 0 AS pid, value ->> 1 AS ts FROM json_each(?)) AS k"
    range_rows = "(SELECT value ->> 0 AS pid, value ->> 1 AS lo, value ->> 2 AS hi FROM json_each(?)) AS r"
    list_partitions = "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'timeseries_data_%'"
    schema_version = "PRAGMA schema_version"
    staging_table = (
        "CREATE TEMP TABLE IF NOT EXISTS incoming (idx INTEGER PRIMARY KEY, point_id INTEGER, ts INTEGER, "
        "value REAL, trend_log_id INTEGER, quality INTEGER, source_id INTEGER)"
    )

    rollup_staging = None
    lock_migrations = ()  # BEGIN IMMEDIATE already holds the one write lock of the file

    def id_list(self, values: Iterable[int]) -> str:
        return json.dumps(list(values))

    def json_rows(self, *columns: str) -> str:
        return f"json_group_array(json_array({', '.join(columns)}))"

    def create_partition(self, table: str, start_ms: int, end_ms: int) -> list[str]:
        return [SQLITE_PARTITION_TEMPLATE.format(table=table)]

    def drop_partition(self, table: str) -> list[str]:
        return [f"DROP TABLE {table}"]

    def create_rollup_partition(self, table: str, start_ms: int, end_ms: int) -> list[str]:
        return [SQLITE_ROLLUP_TEMPLATE.format(table=table)]

    def drop_rollup_partition(self, table: str) -> list[str]:
        return [f"DROP TABLE IF EXISTS {table}"]

    def bucket_edges(
        self, table: str, where: str, *, last: bool, ts: str = "ts", value: str = "value", key: str = "ts"
    ) -> str:
        # SQLite takes a bare column from the row holding the min()/max() when it is the only aggregate.
        aggregate = "max" if last else "min"
        return f"SELECT point_id, {key} / ? AS b, {value}, {aggregate}({ts}) FROM {table} {where} GROUP BY point_id, b"

    def latest_per_point(self, table: str, where: str) -> str:
        return f"SELECT point_id, max(ts), value FROM {table} WHERE {where} GROUP BY point_id"

    def greatest(self, *terms: str) -> str:
        return f"max({', '.join(terms)})"

    def json_merge(self, column: str) -> str:
        return f"json_patch(coalesce({column}, '{{}}'), ?)"

    def merge_reporting(self, existing: str, merge: str) -> tuple[str, str | None]:
        return existing, merge  # no INSERT inside WITH: read what exists, then merge


class PostgresDialect(Dialect):
    name = "postgresql"
    id_rows = "unnest(?::bigint[]) AS ids(value)"
    pair_rows = (
        "(SELECT e.ord - 1 AS key, (e.pair ->> 0)::bigint AS pid, (e.pair ->> 1)::bigint AS ts "
        "FROM jsonb_array_elements(?::jsonb) WITH ORDINALITY AS e(pair, ord)) AS k"
    )
    range_rows = (
        "(SELECT (e ->> 0)::bigint AS pid, (e ->> 1)::bigint AS lo, (e ->> 2)::bigint AS hi "
        "FROM jsonb_array_elements(?::jsonb) AS e) AS r"
    )
    list_partitions = (
        "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'timeseries_data'::regclass"
    )
    staging_table = (
        "CREATE TEMP TABLE IF NOT EXISTS incoming (idx bigint, point_id bigint, ts bigint, value double precision, "
        "trend_log_id bigint, quality integer, source_id bigint) ON COMMIT DELETE ROWS"
    )
    rollup_staging = (
        "CREATE TEMP TABLE IF NOT EXISTS rollup_incoming (point_id bigint, level integer, bucket bigint, n bigint, "
        "total double precision, low double precision, high double precision, first_ts bigint, "
        "first double precision, last_ts bigint, last double precision, tw_sum double precision, max_gap bigint, "
        "increase double precision) ON COMMIT DELETE ROWS"
    )
    PARTITION_LOCK = 0x7430_3030_7061_7274
    """The advisory lock (transaction-scoped) that serializes creating yearly partitions across processes."""
    MIGRATION_LOCK = 0x7430_3030_6D69_6772
    lock_migrations = (f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})",)
    schema_version = None  # the catalog's list of partitions is one indexed read already

    def any_of(self, column: str) -> str:
        return f"{column} = ANY(?::bigint[])"

    def id_list(self, values: Iterable[int]) -> list[int]:
        return list(values)

    def json_rows(self, *columns: str) -> str:
        return f"json_agg(json_build_array({', '.join(columns)}))::text"

    def create_partition(self, table: str, start_ms: int, end_ms: int) -> list[str]:
        # Two writers (two processes) may need the same new year at once: the advisory lock makes the second
        # wait for the first's commit, after which IF NOT EXISTS sees the table.
        return [
            f"SELECT pg_advisory_xact_lock({self.PARTITION_LOCK})",
            f"CREATE TABLE IF NOT EXISTS {table} PARTITION OF timeseries_data "
            f"FOR VALUES FROM ({int(start_ms)}) TO ({int(end_ms)})",
        ]

    def drop_partition(self, table: str) -> list[str]:
        return [
            f"SELECT pg_advisory_xact_lock({self.PARTITION_LOCK})",
            f"ALTER TABLE timeseries_data DETACH PARTITION {table}",
            f"DROP TABLE {table}",
        ]

    def create_rollup_partition(self, table: str, start_ms: int, end_ms: int) -> list[str]:
        return [
            f"SELECT pg_advisory_xact_lock({self.PARTITION_LOCK})",
            f"CREATE TABLE IF NOT EXISTS {table} PARTITION OF rollups "
            f"FOR VALUES FROM ({int(start_ms)}) TO ({int(end_ms)})",
        ]

    def drop_rollup_partition(self, table: str) -> list[str]:
        # a rollup partition may be missing (a year copied by copy-db, never written since): IF EXISTS
        return [f"SELECT pg_advisory_xact_lock({self.PARTITION_LOCK})", f"DROP TABLE IF EXISTS {table}"]

    def bucket_edges(
        self, table: str, where: str, *, last: bool, ts: str = "ts", value: str = "value", key: str = "ts"
    ) -> str:
        order = "DESC" if last else "ASC"
        return (
            f"SELECT DISTINCT ON (point_id, b) point_id, {key} / ? AS b, {value}, {ts} FROM {table} {where} "
            f"ORDER BY point_id, b, {ts} {order}"
        )

    def latest_per_point(self, table: str, where: str) -> str:
        return (
            f"SELECT DISTINCT ON (point_id) point_id, ts, value FROM {table} WHERE {where} "
            "ORDER BY point_id, ts DESC"
        )

    def greatest(self, *terms: str) -> str:
        return f"greatest({', '.join(terms)})"

    def json_merge(self, column: str) -> str:
        return f"(coalesce({column}, '{{}}')::jsonb || ?::jsonb)::text"

    def merge_reporting(self, existing: str, merge: str) -> tuple[str, str | None]:
        # One statement: every part of a WITH sees the same snapshot, so the SELECT reads the rows as they were
        # before the INSERT beside it merged the staging table.
        return f"WITH merged AS ({merge}) {existing}", None


SQLITE = SqliteDialect()
POSTGRES = PostgresDialect()
