"""Buckets for building questions: calendar hours, days, ISO weeks, months and years in the site's time zone
(or fixed widths), several aggregates at once including TWA, DELTA and RANGE, each bucket with its own start and
end, empty buckets filled as asked, and the value in force at the range start (so a chart begins at its left
edge). A resolver over `HistoryReader.aggregate_calendar` / `aggregate_buckets`."""

from __future__ import annotations

from datetime import datetime

import strawberry

from t3000gql.api.context import Info
from t3000gql.api.enums import Aggregate
from t3000gql.api.inputs import PointRefInput
from t3000gql.api.types import MonitoringPoint
from t3000gql.domain.calendar import CalendarUnit, Fill, fixed_boundaries, zone
from t3000gql.domain.calendar import fill as fill_buckets
from t3000gql.domain.timeutil import to_datetime
from t3000gql.errors import ValidationError

strawberry.enum(
    CalendarUnit,
    description="Calendar buckets as the clocks of the time zone show them: a DAY in spring may be 23 hours, a "
    "WEEK starts on Monday (ISO), MONTH and YEAR start at local midnight of their first day.",
)
strawberry.enum(
    Fill,
    description="Empty buckets: NONE leaves them out, NULL keeps them with null values, PREVIOUS repeats the "
    "value before (the value in force at the start for leading ones), LINEAR interpolates between neighbours.",
)


@strawberry.type(description="One aggregate's value per bucket, in bucket order (null: the bucket is empty).")
class BucketColumn:
    aggregate: Aggregate
    values: list[float | None]


@strawberry.type(description="Buckets of one point, each with its own start and end.")
class Buckets:
    point: MonitoringPoint
    time_zone: str = strawberry.field(description="The zone the calendar buckets follow.")
    starts: list[datetime]
    ends: list[datetime]
    counts: list[int] = strawberry.field(description="Samples per bucket.")
    columns: list[BucketColumn] = strawberry.field(description="One per aggregate asked, in the order asked.")
    initial_time: datetime | None = strawberry.field(description="The last sample before the range: its time.")
    initial_value: float | None = strawberry.field(description="The value in force at the range start.")


@strawberry.type
class BucketQueries:
    @strawberry.field(
        description="Aggregates of one point in [start, end) per calendar bucket (`calendar`, in `timeZone` or "
        "the site's TIMEZONE) or per fixed `intervalSeconds` (exactly one of the two). TWA weights each value "
        "by the time it held (until the next sample, at most `maxGapSeconds`); DELTA is a counter's increase "
        "(a drop counts as a reset to zero); RANGE is max - min. At most API_MAX_HISTORY_SAMPLES buckets."
    )
    async def buckets(
        self,
        info: Info,
        point: PointRefInput,
        start: datetime,
        end: datetime,
        aggregates: list[Aggregate],
        calendar: CalendarUnit | None = None,
        interval_seconds: int | None = None,
        time_zone: str | None = None,
        max_gap_seconds: int | None = None,
        fill: Fill = Fill.NONE,
    ) -> Buckets:
        context = info.context
        start_ms, end_ms = context.epoch_ms(start), context.epoch_ms(end)
        if end_ms <= start_ms:
            raise ValidationError("must be later than start", field="end", value=end.isoformat())
        if (calendar is None) == (interval_seconds is None):
            raise ValidationError("give exactly one of calendar or intervalSeconds", field="calendar")
        if interval_seconds is not None and interval_seconds < 1:
            raise ValidationError("must be >= 1", field="intervalSeconds", value=interval_seconds)
        if max_gap_seconds is not None and max_gap_seconds < 1:
            raise ValidationError("must be >= 1", field="maxGapSeconds", value=max_gap_seconds)
        tz_name = time_zone or context.settings.timezone
        zone(tz_name)
        record = await context.require_point(point.to_ref())
        history = context.store.history
        max_buckets = context.settings.api_max_history_samples
        max_gap_ms = None if max_gap_seconds is None else max_gap_seconds * 1000
        if calendar is not None:
            found = await history.aggregate_calendar(
                [record.id], start_ms, end_ms, calendar, tz_name, aggregates, max_gap_ms=max_gap_ms
            )
        else:
            assert interval_seconds is not None
            bounds = fixed_boundaries(start_ms, end_ms, interval_seconds * 1000)
            if len(bounds) - 1 > max_buckets:
                raise ValidationError(
                    f"makes more than {max_buckets} buckets (API_MAX_HISTORY_SAMPLES)",
                    field="intervalSeconds",
                    value=interval_seconds,
                )
            found = await history.aggregate_buckets(
                [record.id], start_ms, end_ms, bounds, aggregates, max_gap_ms=max_gap_ms
            )
        series = found[record.id]
        if len(series.starts) > max_buckets:
            raise ValidationError(f"makes more than {max_buckets} buckets", field="calendar", value=calendar)
        keep = range(len(series.starts))
        if fill is Fill.NONE:
            keep = [i for i, n in enumerate(series.counts) if n]  # type: ignore[assignment]
        starts = [series.starts[i] for i in keep]
        initial = series.initial[1] if series.initial else None
        columns = []
        for aggregate in aggregates:
            values = [series.values[aggregate][i] for i in keep]
            if fill is not Fill.NONE:
                _, values = fill_buckets(starts, values, fill, initial=initial)
            columns.append(BucketColumn(aggregate=aggregate, values=values))
        return Buckets(
            point=MonitoringPoint.from_record(record),
            time_zone=tz_name,
            starts=[to_datetime(ts) for ts in starts],
            ends=[to_datetime(series.ends[i]) for i in keep],
            counts=[series.counts[i] for i in keep],
            columns=columns,
            initial_time=to_datetime(series.initial[0]) if series.initial else None,
            initial_value=initial,
        )
