"""`/export.csv`: history as CSV, streamed page by page through the read path (`store.history`), so a million
rows cost the memory of one page.

One row per timestamp, one column per point (and per aggregate when bucketed), cells empty where a point has
no sample then. Raw samples are read per point in pages of `limit` samples continued from `next_start`, and
merged in time order; buckets are read in windows of whole buckets (aligned to the epoch, like every bucket),
skipping straight to the next sample across empty stretches. Times are ISO-8601 in the site's time zone or
epoch milliseconds.
"""

from __future__ import annotations

import csv
import io
import zoneinfo
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from t3000gql.domain.calendar import boundaries, zone
from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import Aggregate
from t3000gql.errors import ValidationError
from t3000gql.storage.records import MonitoringPoint
from t3000gql.storage.store import Store
from t3000gql.web.export_params import ExportQuery

PAGE_VALUES = 20_000
"""Values held in memory at once (all points together), whatever the range; also the most rows per chunk."""


def column_name(ref: PointRef, point: MonitoringPoint, aggregate: Aggregate | None) -> str:
    name = f"{ref.device_id}:{ref.point_type.name}:{ref.point_number}"
    if point.point_name:
        name += f" {point.point_name}"
    if point.unit_symbol:
        name += f" [{point.unit_symbol}]"
    return f"{name} {aggregate.name}" if aggregate is not None else name


class _TimeText:
    """Epoch ms -> the cell text: ISO-8601 with offset in the site's zone, or the plain number. (A hand-made
    formatter with cached offsets and dates measured slower than `datetime`'s C code: ~2 µs a row.)"""

    def __init__(self, time_format: str, timezone: str) -> None:
        self._iso = time_format == "iso"
        self._zone = zoneinfo.ZoneInfo(timezone)

    def __call__(self, ts_ms: int) -> str:
        if not self._iso:
            return str(ts_ms)
        return datetime.fromtimestamp(ts_ms / 1000, tz=self._zone).isoformat(timespec="milliseconds")


@dataclass
class _Cursor:
    """One point's raw samples, a page at a time."""

    point_id: int
    next_start: int
    timestamps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    at: int = 0
    exhausted: bool = False


@dataclass
class CsvExport:
    store: Store
    query: ExportQuery
    points: list[tuple[PointRef, MonitoringPoint]]
    timezone: str
    page_values: int = PAGE_VALUES

    @property
    def aggregates(self) -> tuple[Aggregate, ...]:
        bucketed = self.query.interval_seconds is not None or self.query.calendar is not None
        return self.query.aggregates if bucketed else ()

    def header(self) -> list[str]:
        names = ["time"]
        for ref, point in self.points:
            if self.aggregates:
                names.extend(column_name(ref, point, aggregate) for aggregate in self.aggregates)
            else:
                names.append(column_name(ref, point, None))
        return names

    async def chunks(self) -> AsyncIterator[str]:
        """The CSV text: the header row, then rows in time order, one chunk per page read."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.header())
        time_text = _TimeText(self.query.time_format, self.timezone)
        if self.query.calendar is not None:
            batches = self._calendar_rows(time_text)
        elif self.aggregates:
            batches = self._bucket_rows(time_text)
        else:
            batches = self._raw_rows(time_text)
        async for batch in batches:
            writer.writerows(batch)
            del batch  # the page it holds goes before the next is read
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue()

    # --- raw samples ---------------------------------------------------------------------------------------

    async def _fill(self, cursor: _Cursor, limit: int) -> None:
        cursor.timestamps, cursor.values, cursor.at = [], [], 0  # let the last page go before reading the next
        history = self.store.history
        found = await history.read_range([cursor.point_id], cursor.next_start, self.query.end_ms, limit=limit)
        series = found[cursor.point_id]
        cursor.timestamps, cursor.values, cursor.at = series.timestamps, series.values, 0
        if series.truncated and series.next_start is not None:
            cursor.next_start = series.next_start
        else:
            cursor.exhausted = True

    async def _raw_rows(self, time_text: _TimeText) -> AsyncIterator[Iterable[Sequence[Any]]]:
        limit = max(1, self.page_values // len(self.points))
        cursors = [_Cursor(point.id, self.query.start_ms) for _, point in self.points]
        for cursor in cursors:
            await self._fill(cursor, limit)
        if len(cursors) == 1:
            cursor = cursors[0]
            while True:
                yield zip(map(time_text, cursor.timestamps), cursor.values, strict=True)
                if cursor.exhausted:
                    return
                await self._fill(cursor, limit)
        batch: list[list[Any]] = []
        while True:
            for cursor in cursors:
                if cursor.at >= len(cursor.timestamps) and not cursor.exhausted:
                    if batch:
                        yield batch
                        batch = []
                    await self._fill(cursor, limit)
            heads = [c.timestamps[c.at] for c in cursors if c.at < len(c.timestamps)]
            if not heads:
                if batch:
                    yield batch
                return
            ts = min(heads)
            row: list[Any] = [time_text(ts)]
            for cursor in cursors:
                if cursor.at < len(cursor.timestamps) and cursor.timestamps[cursor.at] == ts:
                    row.append(cursor.values[cursor.at])
                    cursor.at += 1
                else:
                    row.append("")
            batch.append(row)

    # --- buckets -------------------------------------------------------------------------------------------

    async def _next_sample(self, point_ids: list[int], after_ms: int) -> int | None:
        if after_ms >= self.query.end_ms:
            return None
        found = await self.store.history.read_range(point_ids, after_ms, self.query.end_ms, limit=1)
        firsts = [series.timestamps[0] for series in found.values() if series.timestamps]
        return min(firsts) if firsts else None

    async def _bucket_rows(self, time_text: _TimeText) -> AsyncIterator[Iterable[Sequence[Any]]]:
        query = self.query
        assert query.interval_seconds is not None
        width = query.interval_seconds * 1000
        point_ids = list(dict.fromkeys(point.id for _, point in self.points))
        per_window = max(1, self.page_values // (len(point_ids) * len(self.aggregates)))
        bucket = query.start_ms // width
        while bucket * width < query.end_ms:
            start = max(query.start_ms, bucket * width)
            end = min(query.end_ms, (bucket + per_window) * width)
            found = await self.store.history.aggregate(
                point_ids, start, end, query.interval_seconds, list(self.aggregates)
            )
            starts = sorted({ts for series in found.values() for ts in series.bucket_starts})
            if starts:
                columns = []
                for _, point in self.points:
                    series = found[point.id]
                    at = {ts: i for i, ts in enumerate(series.bucket_starts)}
                    columns.append((at, [series.values[aggregate] for aggregate in self.aggregates]))
                batch: list[list[Any]] = []
                for ts in starts:
                    row: list[Any] = [time_text(ts)]
                    for at, lists in columns:
                        i = at.get(ts)
                        row.extend([""] * len(lists) if i is None else [values[i] for values in lists])
                    batch.append(row)
                yield batch
                bucket += per_window
            else:
                following = await self._next_sample(point_ids, end)
                if following is None:
                    return
                bucket = following // width

    async def _calendar_rows(self, time_text: _TimeText) -> AsyncIterator[Iterable[Sequence[Any]]]:
        """Calendar buckets by the site's clocks, a window of buckets per read (its size bounded by the page);
        a bucket no point has a sample in is left out, as fixed-width buckets are."""
        query = self.query
        assert query.calendar is not None
        bounds = boundaries(query.start_ms, query.end_ms, query.calendar, zone(self.timezone, field="calendar"))
        point_ids = list(dict.fromkeys(point.id for _, point in self.points))
        per_window = max(1, self.page_values // (len(point_ids) * len(self.aggregates)))
        for first in range(0, len(bounds) - 1, per_window):
            window = bounds[first : first + per_window + 1]
            lo, hi = max(query.start_ms, window[0]), min(query.end_ms, window[-1])
            found = await self.store.history.aggregate_buckets(point_ids, lo, hi, window, list(self.aggregates))
            batch: list[list[Any]] = []
            for k in range(len(window) - 1):
                if not any(found[pid].counts[k] for pid in point_ids):
                    continue
                row: list[Any] = [time_text(max(window[k], query.start_ms))]
                for _, point in self.points:
                    series = found[point.id]
                    row.extend("" if (v := series.values[a][k]) is None else v for a in self.aggregates)
                batch.append(row)
            if batch:
                yield batch


async def prepare_export(store: Store, query: ExportQuery, timezone: str) -> CsvExport:
    """The export, once its points are known; a ValidationError naming `points` when one does not exist."""
    found = await store.points.get_many(list(query.points))
    missing = [ref for ref in query.points if ref not in found]
    if missing:
        names = ", ".join(f"{r.device_id}:{r.point_type.name}:{r.point_number}" for r in missing[:10])
        raise ValidationError(f"no such point: {names}", field="points", value=names)
    return CsvExport(store, query, [(ref, found[ref]) for ref in query.points], timezone)
