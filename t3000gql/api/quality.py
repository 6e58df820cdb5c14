"""`gaps` and `dataQuality`: where one point's history is missing or suspicious, found on read by the detectors
of `domain/quality.py` (docs/quality.md has the rules). Nothing stored changes.

Both read the range's raw samples once, within the request's history budget (API_MAX_HISTORY_SAMPLES, shared
with every other history field of the request): a range that holds more is refused, naming `end`, rather than
judged on part of it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

import strawberry

from t3000gql.api.context import Context, Info
from t3000gql.api.inputs import PointRefInput
from t3000gql.api.sample_quality import rules_of
from t3000gql.api.types import MonitoringPoint
from t3000gql.domain import quality as detect
from t3000gql.domain.samples import Quality
from t3000gql.domain.timeutil import to_datetime
from t3000gql.errors import ValidationError
from t3000gql.storage.quality_reads import FlaggedSeries, QualityReader
from t3000gql.storage.records import MonitoringPoint as PointRecord

MAX_FINDINGS = 10_000
"""Findings listed in one answer (the counts always count them all)."""


@strawberry.enum(description="What a data-quality finding is (docs/quality.md).")
class QualityFindingKind(enum.Enum):
    GAP = strawberry.enum_value("gap", description="No sample for longer than minGapSeconds.")
    FLATLINE = strawberry.enum_value(
        "flatline", description="The same value for longer than QUALITY_FLATLINE_SECONDS."
    )
    SPIKE = strawberry.enum_value(
        "spike",
        description="At most 3 samples further than QUALITY_SPIKE_FACTOR times the recent spread from the value "
        "before, then back.",
    )
    OUT_OF_RANGE = strawberry.enum_value("out_of_range", description="Values outside minValue..maxValue.")
    COUNTER_BACKWARDS = strawberry.enum_value(
        "counter_backwards", description="A counter's value lower than the one before it."
    )


@strawberry.type(description="A stretch of time without samples.")
class Gap:
    start: datetime = strawberry.field(description="The last sample before the gap (or the range's start).")
    end: datetime = strawberry.field(description="The first sample after the gap (or the range's end).")
    duration_seconds: float

    @classmethod
    def of(cls, finding: detect.Finding) -> Gap:
        return cls(
            start=to_datetime(finding.start_ms),
            end=to_datetime(finding.end_ms),
            duration_seconds=(finding.end_ms - finding.start_ms) / 1000,
        )


@strawberry.type(description="The stretches of a point's history without samples.")
class GapReport:
    point: MonitoringPoint
    start: datetime
    end: datetime = strawberry.field(description="The range's end, or now when that is earlier.")
    min_gap_seconds: float = strawberry.field(
        description="A gap is longer than this: the argument, else QUALITY_GAP_FACTOR times the interval of the "
        "point's fastest active trend log (an inactive one when none is active; DEFAULT_TREND_INTERVAL_SECONDS "
        "when the point is in none)."
    )
    trend_log_id: int | None = strawberry.field(description="The trend log whose interval set minGapSeconds.")
    samples: int = strawberry.field(description="Samples in the range.")
    total_gap_seconds: float
    gaps: list[Gap] = strawberry.field(description=f"Oldest first, at most {MAX_FINDINGS:,}.")
    truncated: bool = strawberry.field(description=f"More than {MAX_FINDINGS:,} gaps: the rest are not listed.")


@strawberry.type(description="One thing found in a point's history, with its time range.")
class QualityFinding:
    kind: QualityFindingKind
    start: datetime
    end: datetime
    duration_seconds: float
    samples: int = strawberry.field(description="Samples it marks (0 for a gap).")

    @classmethod
    def of(cls, finding: detect.Finding) -> QualityFinding:
        return cls(
            kind=QualityFindingKind(finding.kind.value),
            start=to_datetime(finding.start_ms),
            end=to_datetime(finding.end_ms),
            duration_seconds=(finding.end_ms - finding.start_ms) / 1000,
            samples=finding.samples,
        )


@strawberry.type(description="How many findings of each kind.")
class QualityCounts:
    gaps: int
    flatlines: int
    spikes: int
    out_of_range: int = strawberry.field(description="Runs of consecutive values outside the range.")
    counter_backwards: int


@strawberry.type(description="What the detectors found in one point's history over [start, end).")
class DataQuality:
    point: MonitoringPoint
    start: datetime
    end: datetime = strawberry.field(description="The range's end, or now when that is earlier.")
    samples: int
    good: int = strawberry.field(description="Samples of quality GOOD (see TimeSeriesSample.quality).")
    uncertain: int
    bad: int
    min_gap_seconds: float = strawberry.field(description="As in `gaps`.")
    counts: QualityCounts
    findings: list[QualityFinding] = strawberry.field(
        description=f"Oldest first (by start), at most {MAX_FINDINGS:,}."
    )
    truncated: bool = strawberry.field(
        description=f"More than {MAX_FINDINGS:,} findings: the rest are not listed."
    )


@dataclass(frozen=True, slots=True)
class _Read:
    """A point's samples over a checked range, and the gap threshold that applies to it."""

    record: PointRecord
    start_ms: int
    end_ms: int
    min_gap_ms: int
    trend_log_id: int | None
    series: FlaggedSeries


async def _read(
    context: Context, point: PointRefInput, start: datetime, end: datetime, min_gap_seconds: int | None
) -> _Read:
    start_ms, end_ms = context.epoch_ms(start), context.epoch_ms(end)
    if end_ms <= start_ms:
        raise ValidationError("must be later than start", field="end", value=end.isoformat())
    if min_gap_seconds is not None and min_gap_seconds < 1:
        raise ValidationError(
            "must be a whole number of seconds >= 1", field="min_gap_seconds", value=min_gap_seconds
        )
    record = await context.require_point(point.to_ref())
    end_ms = max(start_ms + 1, min(end_ms, context.now_ms()))  # what has not happened yet is no gap
    trend_log_id = None
    min_gap: float
    if min_gap_seconds is not None:
        min_gap = min_gap_seconds
    else:
        logs = [
            log for log in await context.loaders.trend_logs_of.load(record.device_id) if record.id in log.point_ids
        ]
        fastest = min(logs, key=lambda log: (not log.is_active, log.interval_seconds), default=None)
        interval = fastest.interval_seconds if fastest else context.settings.default_trend_interval_seconds
        trend_log_id = fastest.id if fastest else None
        min_gap = context.settings.quality_gap_factor * interval
    budget = context.history_budget
    series = await QualityReader(context.store.db, context.store.partitions).samples(
        record.id, start_ms, end_ms, limit=budget.remaining
    )
    if series.truncated or not budget.spend(len(series.timestamps)):
        raise ValidationError(
            f"the range holds more samples than this request may still read ({budget.remaining} of "
            f"API_MAX_HISTORY_SAMPLES={budget.total}): ask for a shorter range",
            field="end",
            value=end.isoformat(),
        )
    return _Read(record, start_ms, end_ms, round(min_gap * 1000), trend_log_id, series)


@strawberry.type
class QualityQueries:
    @strawberry.field(
        description="The stretches of [start, end) without samples of one point, longer than minGapSeconds "
        "(default: QUALITY_GAP_FACTOR times the interval of the point's fastest active trend log). The range's edges count "
        "as samples; its end is cut at now. Reads the range's samples within API_MAX_HISTORY_SAMPLES."
    )
    async def gaps(
        self,
        info: Info,
        point: PointRefInput,
        start: datetime,
        end: datetime,
        min_gap_seconds: int | None = None,
    ) -> GapReport | None:
        read = await _read(info.context, point, start, end, min_gap_seconds)
        found = detect.find_gaps(read.series.timestamps, read.start_ms, read.end_ms, read.min_gap_ms)
        return GapReport(
            point=MonitoringPoint.from_record(read.record),
            start=to_datetime(read.start_ms),
            end=to_datetime(read.end_ms),
            min_gap_seconds=read.min_gap_ms / 1000,
            trend_log_id=read.trend_log_id,
            samples=len(read.series.timestamps),
            total_gap_seconds=sum(gap.end_ms - gap.start_ms for gap in found) / 1000,
            gaps=[Gap.of(gap) for gap in found[:MAX_FINDINGS]],
            truncated=len(found) > MAX_FINDINGS,
        )

    @strawberry.field(
        description="Gaps, flatlines, spikes, values out of range and counters going backwards in one point's "
        "history over [start, end): counts, each finding with its time range, and the samples by quality "
        "(docs/quality.md has the rules; QUALITY_* settings tune them). Nothing stored changes."
    )
    async def data_quality(
        self, info: Info, point: PointRefInput, start: datetime, end: datetime
    ) -> DataQuality | None:
        context = info.context
        read = await _read(context, point, start, end, None)
        record, stamps, values = read.record, read.series.timestamps, read.series.values
        rules = rules_of(
            min_value=record.min_value,
            max_value=record.max_value,
            unit_code=record.unit_code,
            unit_symbol=record.unit_symbol,
            data_type=record.data_type,
            options=record.options,
            settings=context.settings,
        )
        issues = detect.find_sample_issues(stamps, values, rules)
        qualities = detect.sample_qualities(len(stamps), issues, read.series.flags)
        gaps = detect.find_gaps(stamps, read.start_ms, read.end_ms, read.min_gap_ms)
        found = sorted(gaps + issues, key=lambda finding: (finding.start_ms, finding.end_ms))
        kinds = [finding.kind for finding in found]
        return DataQuality(
            point=MonitoringPoint.from_record(record),
            start=to_datetime(read.start_ms),
            end=to_datetime(read.end_ms),
            samples=len(stamps),
            good=qualities.count(Quality.GOOD),
            uncertain=qualities.count(Quality.UNCERTAIN),
            bad=qualities.count(Quality.BAD),
            min_gap_seconds=read.min_gap_ms / 1000,
            counts=QualityCounts(
                gaps=len(gaps),
                flatlines=kinds.count(detect.FindingKind.FLATLINE),
                spikes=kinds.count(detect.FindingKind.SPIKE),
                out_of_range=kinds.count(detect.FindingKind.OUT_OF_RANGE),
                counter_backwards=kinds.count(detect.FindingKind.COUNTER_BACKWARDS),
            ),
            findings=[QualityFinding.of(finding) for finding in found[:MAX_FINDINGS]],
            truncated=len(found) > MAX_FINDINGS,
        )
