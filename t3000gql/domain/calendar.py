"""Calendar buckets in a time zone: the boundaries of hours, days, ISO weeks, months and years as the site's
clocks show them, as epoch-ms instants. A Berlin day in spring is 23 hours long and one in autumn 25: each
boundary is the local midnight converted on its own (never "previous boundary + 24 h").

Also what fills empty buckets (`fill`): nothing, a null, the previous bucket's value, or a straight line between
the neighbouring buckets' values.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from t3000gql.errors import ValidationError


class CalendarUnit(enum.Enum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class Fill(enum.Enum):
    NONE = "none"
    """Empty buckets are left out."""
    NULL = "null"
    """Empty buckets are in the answer with no value."""
    PREVIOUS = "previous"
    """Empty buckets repeat the value before them (the value in force at the start for leading ones)."""
    LINEAR = "linear"
    """Empty buckets between two with values lie on the straight line between them (by bucket start time)."""


def zone(name: str, *, field: str = "time_zone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            "is not a known IANA time zone (e.g. Europe/Berlin)", field=field, value=name
        ) from None


def _ms(local: datetime) -> int:
    return round(local.timestamp() * 1000)


def _local_start(moment: datetime, unit: CalendarUnit, week_start: int) -> datetime:
    """The start, in local time, of the calendar bucket holding `moment` (an aware local datetime)."""
    if unit is CalendarUnit.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.date()
    if unit is CalendarUnit.WEEK:
        day -= timedelta(days=(day.weekday() - week_start) % 7)
    elif unit is CalendarUnit.MONTH:
        day = day.replace(day=1)
    elif unit is CalendarUnit.YEAR:
        day = date(day.year, 1, 1)
    return datetime(day.year, day.month, day.day, tzinfo=moment.tzinfo)


def _next_day(day: date, unit: CalendarUnit) -> date:
    if unit is CalendarUnit.DAY:
        return day + timedelta(days=1)
    if unit is CalendarUnit.WEEK:
        return day + timedelta(days=7)
    if unit is CalendarUnit.MONTH:
        return date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return date(day.year + 1, 1, 1)


def boundaries(start_ms: int, end_ms: int, unit: CalendarUnit, tz: ZoneInfo, *, week_start: int = 0) -> list[int]:
    """Instants b0 <= start_ms < b1 < … < bn >= end_ms: consecutive calendar buckets covering [start_ms, end_ms).
    `week_start`: 0 Monday (ISO) … 6 Sunday."""
    first = _local_start(datetime.fromtimestamp(start_ms / 1000, tz), unit, week_start)
    out = [_ms(first)]
    if unit is CalendarUnit.HOUR:
        # local hours: step in absolute time (a repeated autumn hour is two buckets, a skipped spring hour none)
        while out[-1] < end_ms:
            nxt = datetime.fromtimestamp(out[-1] / 1000 + 3600, tz)
            out.append(_ms(_local_start(nxt, unit, week_start)))
        return out
    day = first.date()
    while out[-1] < end_ms:
        day = _next_day(day, unit)
        out.append(_ms(datetime(day.year, day.month, day.day, tzinfo=tz)))
    return out


def fixed_boundaries(start_ms: int, end_ms: int, width_ms: int) -> list[int]:
    """Epoch-aligned buckets of `width_ms` covering [start_ms, end_ms), as `boundaries` gives them."""
    return list(range(start_ms // width_ms * width_ms, end_ms + width_ms, width_ms))


def fill(
    starts: Sequence[int], values: Sequence[float | None], how: Fill, initial: float | None = None
) -> tuple[list[int], list[float | None]]:
    """Buckets `starts` with `values` (None: empty) filled as `how` says; `initial` is the value in force before
    the first bucket (for PREVIOUS)."""
    if how is Fill.NONE:
        kept = [i for i, v in enumerate(values) if v is not None]
        return [starts[i] for i in kept], [values[i] for i in kept]
    out = list(values)
    if how is Fill.PREVIOUS:
        previous = initial
        for i, value in enumerate(out):
            if value is None:
                out[i] = previous
            else:
                previous = value
    elif how is Fill.LINEAR:
        known = [i for i, v in enumerate(values) if v is not None]
        for left, right in itertools.pairwise(known):
            a, b = values[left], values[right]
            assert a is not None and b is not None
            span = starts[right] - starts[left]
            for i in range(left + 1, right):
                out[i] = a + (b - a) * (starts[i] - starts[left]) / span
    return list(starts), out


def utc_iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat()
