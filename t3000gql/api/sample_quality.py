"""Each history sample's `quality` (GOOD, UNCERTAIN, BAD), computed on read by the detectors of
`domain/quality.py` and never stored.

A history answer is a hot path (a chart's 1,000 samples), so nothing is computed unless a query selects
`quality`: the answer carries a `SampleQualities` that works the whole column out on the first ask (one more
read, of the stored quality flags, for raw samples). `points` asks before it builds its objects (`selects`),
so each sample's `quality` is a plain field, not a resolver per sample.
"""

from __future__ import annotations

import asyncio
import bisect
import enum
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from t3000gql.config import Settings
from t3000gql.domain.points import PointRef, is_digital_unit
from t3000gql.domain.quality import (
    QualityRules,
    bucket_qualities,
    find_sample_issues,
    is_counter,
    sample_qualities,
)
from t3000gql.domain.samples import Quality
from t3000gql.storage.history import Series
from t3000gql.storage.quality_reads import QualityReader

if TYPE_CHECKING:
    from t3000gql.api.context import Context, Info
    from t3000gql.api.history_reads import HistoryArgs
    from t3000gql.api.types import MonitoringPoint


@strawberry.enum(
    description="How far a sample can be trusted; computed when read (docs/quality.md has the rules)."
)
class SampleQuality(enum.Enum):
    GOOD = strawberry.enum_value("GOOD", description="Nothing found against it.")
    UNCERTAIN = strawberry.enum_value(
        "UNCERTAIN",
        description="Part of a spike or a flatline, a counter lower than the value before, or stored so.",
    )
    BAD = strawberry.enum_value(
        "BAD", description="Outside the point's minValue..maxValue (or not finite), or stored so."
    )

    @classmethod
    def of(cls, quality: Quality) -> SampleQuality:
        return _BY_QUALITY[quality]


_BY_QUALITY = (SampleQuality.GOOD, SampleQuality.UNCERTAIN, SampleQuality.BAD)


def selects(info: Info, name: str) -> bool:
    """Whether the query asks for field `name` directly below the field being resolved (through fragments too)."""
    return any(_names(field.selections, name) for field in info.selected_fields)


def _names(selections: Sequence[Selection], name: str) -> bool:
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == name:
                return True
        elif _names(selection.selections, name):
            return True
    return False


def rules_of(
    *,
    min_value: float | None,
    max_value: float | None,
    unit_code: int | None,
    unit_symbol: str | None,
    data_type: str,
    options: Mapping[str, Any],
    settings: Settings,
) -> QualityRules:
    """The detectors' rules for one point: its range, whether it counts up or is digital, the site's settings."""
    return QualityRules(
        min_value=min_value,
        max_value=max_value,
        counter=is_counter(unit_symbol, options),
        digital=data_type == "BOOLEAN" or is_digital_unit(unit_code),
        flatline_ms=settings.quality_flatline_seconds * 1000,
        spike_factor=settings.quality_spike_factor,
        spike_window=settings.quality_spike_window,
    )


def flags_by_index(timestamps: Sequence[int], flags: Mapping[int, int]) -> dict[int, int]:
    """Stored quality flags keyed by timestamp, re-keyed by the sample's index in `timestamps` (sorted)."""
    found: dict[int, int] = {}
    for ts, flag in flags.items():
        i = bisect.bisect_left(timestamps, ts)
        if i < len(timestamps) and timestamps[i] == ts:
            found[i] = flag
    return found


class SampleQualities:
    """The qualities of one answer's samples (or buckets), worked out once on the first ask."""

    __slots__ = ("_args", "_point", "_series", "_task")

    def __init__(self, point: MonitoringPoint | PointRef, args: HistoryArgs, series: Series) -> None:
        self._point = point
        self._args = args
        self._series = series
        self._task: asyncio.Future[list[SampleQuality]] | None = None

    def get(self, context: Context) -> asyncio.Future[list[SampleQuality]]:
        if self._task is None:
            self._task = asyncio.ensure_future(self._compute(context))
        return self._task

    async def _compute(self, context: Context) -> list[SampleQuality]:
        stamps, values = self._series.timestamps, self._series.values
        point = self._point
        record: Any
        if isinstance(point, PointRef):  # a station's channel: its record is read only now, when asked
            record = await context.require_point(point)
            point_id, data_type = record.id, record.data_type
        else:
            record, point_id, data_type = point, point.point_id, point.data_type.value
        rules = rules_of(
            min_value=record.min_value,
            max_value=record.max_value,
            unit_code=record.unit_code,
            unit_symbol=record.unit_symbol,
            data_type=data_type,
            options=record.options,
            settings=context.settings,
        )
        if self._args.aggregate is not None:
            found = bucket_qualities(values, self._args.aggregate, rules)
        elif not stamps:
            found = []
        else:
            store = context.store
            flags = await QualityReader(store.db, store.partitions).flags(point_id, stamps[0], stamps[-1] + 1)
            issues = find_sample_issues(stamps, values, rules)
            found = sample_qualities(len(stamps), issues, flags_by_index(stamps, flags))
        return [_BY_QUALITY[quality] for quality in found]
