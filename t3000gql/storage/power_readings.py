"""Power readings: the `power_readings` index (when and from where each reading arrived) and the pivot of the
channel values, which live in the history partitions like every other value.

The owner of the `power_readings` table. The index row is written by the write path's `extra` hook in the
same transaction as the values (see `save_meta`), so a reading is never visible without its values nor its
values without their arrival time; retention trims it through `delete_before`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from t3000gql.domain.stations import CHANNEL_COUNT, ChannelValues
from t3000gql.errors import ValidationError
from t3000gql.storage.connection import Connection
from t3000gql.storage.database import Database
from t3000gql.storage.dialects import Dialect
from t3000gql.storage.partitions import PartitionSet, partition_table, year_of_ms
from t3000gql.storage.write_path import WriteContext

_UPSERT_META = (
    "INSERT INTO power_readings (device_id, ts, created_at, source_id, flags) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (device_id, ts) DO UPDATE SET source_id = excluded.source_id, flags = excluded.flags WHERE ?"
)
# One exact primary-key lookup per (point, time) pair, for a page of readings in one statement per partition
# (the pairs are one parameter: the dialect's `pair_rows`).
_VALUES = "SELECT p.point_id, p.ts, p.value FROM {pairs} JOIN {table} AS p ON p.point_id = k.pid AND p.ts = k.ts"
_PREVIOUS = (
    "SELECT k.key, (SELECT value FROM {table} WHERE point_id = k.pid AND ts < k.ts "
    "ORDER BY ts DESC LIMIT 1) FROM {pairs}"
)
ORDER_COLUMNS = {"timestamp": "r.ts", "created_at": "r.created_at"}


@dataclass(frozen=True, slots=True)
class StoredReading:
    device_id: int
    ts_ms: int
    created_at: int
    source: str
    flags: int
    """Bit i set: channel i was stored with quality UNCERTAIN (an energy counter that went backwards)."""
    values: ChannelValues


@dataclass(frozen=True, slots=True)
class ReadingQuery:
    """A page of readings: stations (None = all), half-open time range, order and paging."""

    device_ids: tuple[int, ...] | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    limit: int = 100
    offset: int = 0
    order_by: str = "timestamp"
    descending: bool = False


ChannelMap = Mapping[int, tuple[int, int]]
"""point id -> (device id, channel position): how values are pivoted back into readings."""


async def save_meta(
    conn: Connection,
    readings: Sequence[tuple[int, int, int]],
    changed: Sequence[bool],
    context: WriteContext,
) -> None:
    """Records (device_id, ts, flags) of each reading inside the write path's transaction (its `extra` hook).
    A reading that changed no value keeps its stored arrival time and source (a re-import is not a new
    arrival); one that changed any value takes the new source and flags."""
    now, source_id = context.now_ms, context.source_id
    await conn.executemany(
        _UPSERT_META,
        [
            (device_id, ts, now, source_id, flags, is_changed)
            for (device_id, ts, flags), is_changed in zip(readings, changed, strict=True)
        ],
    )


async def delete_before(conn: Connection, cutoff_ms: int) -> None:
    """Retention, inside its transaction: the index rows of readings older than the cut-off, whose values go
    with the history partitions at the same cut-off."""
    await conn.execute("DELETE FROM power_readings WHERE ts < ?", (cutoff_ms,))


_RESTORE = (
    "INSERT INTO power_readings (device_id, ts, created_at, source_id, flags) "
    "SELECT ?, ?, ?, id, ? FROM data_sources WHERE source = ? ON CONFLICT (device_id, ts) DO NOTHING"
)


async def restore_in(conn: Connection, rows: Sequence[tuple[int, int, int, str | None, int]]) -> int:
    """A retention archive's index rows (device, time, arrival, source name, flags) put back inside the caller's
    transaction; rows already there stay as they are. Returns how many were added. A source name this database
    does not know (its history not restored yet) fails the batch."""
    added = 0
    for device_id, ts, created_at, source, flags in rows:
        changed = await conn.execute(_RESTORE, (device_id, ts, created_at, flags, source or "api"))
        if changed == 0:
            row = await conn.fetch_one(
                "SELECT 1 FROM power_readings WHERE device_id = ? AND ts = ?", (device_id, ts)
            )
            if row is None:
                raise ValidationError(
                    "is not a source this database knows: restore the history archive of the same cut-off first",
                    field="source",
                    value=source,
                )
        added += changed
    return added


class PowerReadingRepository:
    def __init__(self, db: Database, partitions: PartitionSet) -> None:
        self._db = db
        self._dialect = db.dialect
        self._partitions = partitions

    async def find(self, query: ReadingQuery, channels: ChannelMap) -> list[StoredReading]:
        check_query(query)
        where, params = _where(self._dialect, query)
        order = ORDER_COLUMNS[query.order_by]
        direction = "DESC" if query.descending else "ASC"
        rows = await self._db.fetch_all(
            "SELECT r.device_id, r.ts, r.created_at, s.source, r.flags FROM power_readings AS r "
            f"JOIN data_sources AS s ON s.id = r.source_id{where} "
            f"ORDER BY {order} {direction}, r.device_id {direction}, r.ts {direction} LIMIT ? OFFSET ?",
            (*params, query.limit, query.offset),
        )
        return await self._with_values(rows, channels)

    async def count(self, query: ReadingQuery) -> int:
        where, params = _where(self._dialect, query)
        row = await self._db.fetch_one(f"SELECT count(*) FROM power_readings AS r{where}", params)
        return int(row[0]) if row else 0

    async def latest(self, device_ids: Sequence[int], channels: ChannelMap) -> dict[int, StoredReading]:
        """The newest reading (by timestamp) of each station that has one."""
        rows = await self._db.fetch_all(
            "SELECT r.device_id, r.ts, r.created_at, s.source, r.flags "
            f"FROM (SELECT value FROM {self._dialect.id_rows}) AS k "
            "JOIN power_readings AS r ON r.device_id = k.value AND r.ts = "
            "(SELECT max(ts) FROM power_readings WHERE device_id = k.value) "
            "JOIN data_sources AS s ON s.id = r.source_id",
            (self._dialect.id_list(device_ids),),
        )
        return {reading.device_id: reading for reading in await self._with_values(rows, channels)}

    async def at(self, device_id: int, stamps: Sequence[int], channels: ChannelMap) -> list[StoredReading]:
        """The station's readings at exactly these timestamps (those that exist), oldest first."""
        rows = await self._db.fetch_all(
            "SELECT r.device_id, r.ts, r.created_at, s.source, r.flags FROM power_readings AS r "
            "JOIN data_sources AS s ON s.id = r.source_id "
            f"WHERE r.device_id = ? AND {self._dialect.any_of('r.ts')} ORDER BY r.ts",
            (device_id, self._dialect.id_list(stamps)),
        )
        return await self._with_values(rows, channels)

    async def _with_values(self, rows: Sequence[Sequence[Any]], channels: ChannelMap) -> list[StoredReading]:
        by_device: dict[int, list[int]] = defaultdict(list)
        for pid, (device_id, _position) in channels.items():
            by_device[device_id].append(pid)
        pairs_by_year: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for row in rows:
            device_id, ts = row[0], row[1]
            pairs_by_year[year_of_ms(ts)].extend((pid, ts) for pid in by_device.get(device_id, ()))
        values: dict[tuple[int, int], list[float | None]] = {}
        await self._partitions.refresh_years(self._db, pairs_by_year)  # another process may have made a year
        for year, pairs in pairs_by_year.items():
            if year not in self._partitions.years:
                continue
            found = await self._db.fetch_all(
                _VALUES.format(table=partition_table(year), pairs=self._dialect.pair_rows),
                (self._dialect.pair_list(pairs),),
            )
            for pid, ts, value in found:
                device_id, position = channels[pid]
                slot = values.setdefault((device_id, ts), [None] * CHANNEL_COUNT)
                slot[position] = value
        empty: ChannelValues = (None,) * CHANNEL_COUNT
        return [
            StoredReading(
                device_id=row[0],
                ts_ms=row[1],
                created_at=row[2],
                source=row[3],
                flags=row[4],
                values=tuple(v) if (v := values.get((row[0], row[1]))) is not None else empty,
            )
            for row in rows
        ]

    async def previous_values(self, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], float]:
        """For each (point_id, before_ts): the value of that point's newest sample strictly before `before_ts`.
        One statement per partition (newest first) for all the pairs still unanswered."""
        result: dict[tuple[int, int], float] = {}
        todo = list(dict.fromkeys(wanted))
        if not todo:
            return result
        newest = max(ts for _pid, ts in todo)
        await self._partitions.refresh_for(self._db, 0, newest)
        for year in reversed(self._partitions.existing_between(0, newest)):
            rows = await self._db.fetch_all(
                _PREVIOUS.format(table=partition_table(year), pairs=self._dialect.pair_rows),
                (self._dialect.pair_list(todo),),
            )
            for key, value in rows:
                if value is not None:
                    result[todo[key]] = value
            todo = [pair for pair in todo if pair not in result]
            if not todo:
                break
        return result


def check_query(query: ReadingQuery) -> None:
    if not 1 <= query.limit <= 100_000:
        raise ValidationError("must be from 1 to 100000", field="limit", value=query.limit)
    if query.offset < 0:
        raise ValidationError("must be 0 or more", field="offset", value=query.offset)
    if query.order_by not in ORDER_COLUMNS:
        raise ValidationError("must be TIMESTAMP or CREATED_AT", field="order_by", value=query.order_by)
    if query.start_ms is not None and query.end_ms is not None and query.end_ms <= query.start_ms:
        raise ValidationError(
            "must be later than start_date", field="end_date", value=query.end_ms, mentions=("start_date",)
        )


def _where(dialect: Dialect, query: ReadingQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if query.device_ids is not None:
        clauses.append(dialect.any_of("r.device_id"))
        params.append(dialect.id_list(query.device_ids))
    if query.start_ms is not None:
        clauses.append("r.ts >= ?")
        params.append(query.start_ms)
    if query.end_ms is not None:
        clauses.append("r.ts < ?")
        params.append(query.end_ms)
    return (f" WHERE {' AND '.join(clauses)}" if clauses else "", params)
