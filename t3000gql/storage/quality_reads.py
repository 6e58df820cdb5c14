"""What the data-quality detectors read: one point's samples with the quality stored beside each value.

A reader beside `storage/history.py` (the read path for charts), not a change of it: a chart's range read stays
two columns, and the stored quality flags are read only when an answer asks for `quality` or `dataQuality`.
Read-only; the rows belong to the write path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from t3000gql.errors import ValidationError
from t3000gql.storage.database import Database
from t3000gql.storage.partitions import PartitionSet, partition_table


@dataclass(slots=True)
class FlaggedSeries:
    """Samples of one point, oldest first, and the stored quality of those not GOOD (by index)."""

    timestamps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    flags: dict[int, int] = field(default_factory=dict)
    truncated: bool = False
    """The range holds more than the limit asked for; the lists hold the first `limit` samples."""


class QualityReader:
    def __init__(self, db: Database, partitions: PartitionSet) -> None:
        self._db = db
        self._partitions = partitions

    async def samples(self, point_id: int, start_ms: int, end_ms: int, *, limit: int) -> FlaggedSeries:
        """Samples of [start_ms, end_ms) with their stored quality, at most `limit` (then `truncated`)."""
        if end_ms <= start_ms:
            raise ValidationError("must be later than the start", field="end", value=end_ms)
        series = FlaggedSeries()
        await self._partitions.refresh_for(self._db, start_ms, end_ms)
        for year in self._partitions.existing_between(start_ms, end_ms):
            left = limit - len(series.timestamps)
            rows = await self._db.fetch_all(
                f"SELECT ts, value, quality FROM {partition_table(year)} WHERE point_id = ? AND ts >= ? AND ts < ? "
                "ORDER BY ts LIMIT ?",
                (point_id, start_ms, end_ms, left + 1),
            )
            if len(rows) > left:
                rows = rows[:left]
                series.truncated = True
            offset = len(series.timestamps)
            series.timestamps.extend([row[0] for row in rows])
            series.values.extend([row[1] for row in rows])
            series.flags.update({offset + i: row[2] for i, row in enumerate(rows) if row[2]})
            if series.truncated:
                break
        return series

    async def flags(self, point_id: int, start_ms: int, end_ms: int) -> dict[int, int]:
        """The stored quality of each sample in [start_ms, end_ms) that is not GOOD, by timestamp."""
        found: dict[int, int] = {}
        await self._partitions.refresh_for(self._db, start_ms, end_ms)
        for year in self._partitions.existing_between(start_ms, end_ms):
            rows = await self._db.fetch_all(
                f"SELECT ts, quality FROM {partition_table(year)} WHERE point_id = ? AND ts >= ? AND ts < ? "
                "AND quality <> 0",
                (point_id, start_ms, end_ms),
            )
            found.update({row[0]: row[1] for row in rows})
        return found
