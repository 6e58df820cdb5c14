"""Calendar buckets in a site's time zone against a straightforward computation with zoneinfo: DST in both
directions (Europe/Berlin, America/New_York, Australia/Sydney), a leap year, a year boundary, a zone with a
45-minute offset; TWA (with and without maxGap), DELTA over counter resets, RANGE; fill."""

from __future__ import annotations

import itertools
import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from t3000gql.domain.calendar import CalendarUnit, Fill, boundaries, fill
from t3000gql.domain.samples import Aggregate, Sample
from t3000gql.errors import ValidationError
from t3000gql.storage.store import Store

from .helpers import add_device, point_id

HOUR = 3_600_000


def ms(*args: int, tz: str = "UTC") -> int:
    return int(datetime(*args, tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def local_starts(first: date, count: int, unit: CalendarUnit, tz: str) -> list[int]:
    """Bucket starts the slow way: local midnights of consecutive days/weeks/months/years."""
    out, day = [], first
    for _ in range(count):
        out.append(ms(day.year, day.month, day.day, tz=tz))
        if unit is CalendarUnit.DAY:
            day += timedelta(days=1)
        elif unit is CalendarUnit.WEEK:
            day += timedelta(days=7)
        elif unit is CalendarUnit.MONTH:
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        else:
            day = date(day.year + 1, 1, 1)
    return out


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        ("Europe/Berlin", date(2024, 3, 31), 23),
        ("Europe/Berlin", date(2024, 10, 27), 25),
        ("America/New_York", date(2024, 3, 10), 23),
        ("America/New_York", date(2024, 11, 3), 25),
        ("Australia/Sydney", date(2024, 10, 6), 23),
        ("Australia/Sydney", date(2024, 4, 7), 25),
    ],
)
def test_a_dst_day_is_as_long_as_the_clocks_say(tz: str, day: date, hours: int) -> None:
    start = ms(day.year, day.month, day.day, tz=tz)
    bounds = boundaries(start, start + 1, CalendarUnit.DAY, ZoneInfo(tz))
    assert bounds[1] - bounds[0] == hours * HOUR
    hourly = boundaries(bounds[0], bounds[1], CalendarUnit.HOUR, ZoneInfo(tz))
    assert len(hourly) - 1 == hours  # the skipped hour is no bucket, the repeated one two


def test_weeks_start_on_monday_months_and_years_in_local_time() -> None:
    tz = ZoneInfo("Europe/Berlin")
    weeks = boundaries(ms(2024, 12, 25, 12), ms(2025, 1, 10), CalendarUnit.WEEK, tz)
    assert all(datetime.fromtimestamp(b / 1000, tz).weekday() == 0 for b in weeks)
    assert weeks[0] == ms(2024, 12, 23, tz="Europe/Berlin")
    sunday = boundaries(ms(2024, 12, 25), ms(2024, 12, 26), CalendarUnit.WEEK, tz, week_start=6)
    assert datetime.fromtimestamp(sunday[0] / 1000, tz).weekday() == 6
    months = boundaries(ms(2024, 1, 15), ms(2024, 4, 1, tz="Europe/Berlin"), CalendarUnit.MONTH, tz)
    assert months == local_starts(date(2024, 1, 1), 4, CalendarUnit.MONTH, "Europe/Berlin")
    assert (months[2] - months[1]) // (24 * HOUR) == 29  # February of a leap year
    years = boundaries(ms(2023, 6, 1), ms(2025, 1, 1, tz="Europe/Berlin"), CalendarUnit.YEAR, tz)
    assert years == local_starts(date(2023, 1, 1), 3, CalendarUnit.YEAR, "Europe/Berlin")


def reference(
    samples: list[tuple[int, float]], lo: int, hi: int, start: int, end: int, cap: int | None
) -> dict[Aggregate, float | None]:
    c0, c1 = max(lo, start), min(hi, end)
    inside = [(t, v) for t, v in samples if c0 <= t < c1]
    integral = 0.0
    covered = 0
    for i, (t, v) in enumerate(samples):
        nxt = samples[i + 1][0] if i + 1 < len(samples) else 10**15
        stop = nxt if cap is None else min(nxt, t + cap)
        a, b = max(t, c0), min(stop, c1)
        if b > a:
            integral += v * (b - a)
            covered += b - a
    twa = integral / covered if covered else None
    if not inside:
        return {agg: (twa if agg is Aggregate.TWA else None) for agg in Aggregate}
    values = [v for _, v in inside]
    delta = sum((b - a) if b >= a else b for a, b in itertools.pairwise(values))
    return {
        Aggregate.COUNT: float(len(values)),
        Aggregate.SUM: sum(values),
        Aggregate.AVG: sum(values) / len(values),
        Aggregate.MIN: min(values),
        Aggregate.MAX: max(values),
        Aggregate.FIRST: values[0],
        Aggregate.LAST: values[-1],
        Aggregate.RANGE: max(values) - min(values),
        Aggregate.DELTA: float(delta),
        Aggregate.TWA: twa,
    }


EXACT = {Aggregate.COUNT, Aggregate.MIN, Aggregate.MAX, Aggregate.FIRST, Aggregate.LAST, Aggregate.RANGE}


@pytest.mark.parametrize(
    ("tz", "unit", "start", "end"),
    [
        ("Europe/Berlin", CalendarUnit.DAY, ms(2024, 3, 28), ms(2024, 4, 3)),
        ("Europe/Berlin", CalendarUnit.HOUR, ms(2024, 10, 26, 20), ms(2024, 10, 27, 6)),
        ("America/New_York", CalendarUnit.DAY, ms(2024, 11, 1), ms(2024, 11, 6)),
        ("Australia/Sydney", CalendarUnit.DAY, ms(2024, 10, 3), ms(2024, 10, 9)),
        ("Australia/Sydney", CalendarUnit.MONTH, ms(2024, 12, 1), ms(2025, 2, 3)),
        ("Europe/Berlin", CalendarUnit.DAY, ms(2024, 2, 27, 5), ms(2024, 3, 2, 7, 30)),
        ("Asia/Kathmandu", CalendarUnit.DAY, ms(2024, 12, 29), ms(2025, 1, 3)),
        ("Europe/Berlin", CalendarUnit.WEEK, ms(2024, 12, 20), ms(2025, 1, 8)),
        ("UTC", CalendarUnit.YEAR, ms(2024, 12, 25), ms(2025, 1, 3)),
    ],
)
async def test_calendar_buckets_equal_a_computation_over_the_samples(
    store: Store, tz: str, unit: CalendarUnit, start: int, end: int
) -> None:
    ref = (await add_device(store, points=1))[0]
    pid = await point_id(store, ref)
    rng = random.Random(start)
    samples: list[tuple[int, float]] = []
    ts, counter = start - 3 * HOUR, 0.0
    while ts < end + 3 * HOUR:
        counter = 0.0 if rng.random() < 0.01 else counter + rng.uniform(0, 5)  # an energy counter, with resets
        samples.append((ts, round(counter, 3)))
        ts += rng.randrange(30_000, 900_000) if rng.random() > 0.02 else rng.randrange(2 * HOUR, 5 * HOUR)
    await store.writes.record([Sample(ref, t, v) for t, v in samples], "api")
    for cap in (None, 1_800_000):
        got = (
            await store.history.aggregate_calendar([pid], start, end, unit, tz, list(Aggregate), max_gap_ms=cap)
        )[pid]
        bounds = boundaries(start, end, unit, ZoneInfo(tz))
        assert got.starts == bounds[:-1] and got.ends == bounds[1:]
        assert got.initial == max((s for s in samples if s[0] < start), default=None)
        for i, (lo, hi) in enumerate(zip(got.starts, got.ends, strict=True)):
            want = reference(samples, lo, hi, start, end, cap)
            for agg in Aggregate:
                value = got.values[agg][i]
                if agg in EXACT or want[agg] is None:
                    assert value == want[agg], (agg, i, cap)
                else:
                    assert value == pytest.approx(want[agg], rel=1e-9, abs=1e-9), (agg, i, cap)


async def test_the_new_aggregates_work_with_interval_seconds_too(store: Store) -> None:
    ref = (await add_device(store, points=1))[0]
    pid = await point_id(store, ref)
    start = ms(2024, 5, 1)
    samples = [(start + i * 60_000, float(i % 17)) for i in range(600)]
    await store.writes.record([Sample(ref, t, v) for t, v in samples], "api")
    aggs = [Aggregate.TWA, Aggregate.DELTA, Aggregate.RANGE]
    got = (await store.history.aggregate([pid], start, start + 600 * 60_000, 3600, aggs))[pid]
    assert got.bucket_starts == [start + h * HOUR for h in range(10)]
    for i, lo in enumerate(got.bucket_starts):
        want = reference(samples, lo, lo + HOUR, start, start + 600 * 60_000, None)
        assert got.values[Aggregate.RANGE][i] == want[Aggregate.RANGE]
        assert got.values[Aggregate.DELTA][i] == pytest.approx(want[Aggregate.DELTA])
        assert got.values[Aggregate.TWA][i] == pytest.approx(want[Aggregate.TWA])


async def test_an_unknown_time_zone_is_refused_by_name(store: Store) -> None:
    with pytest.raises(ValidationError) as caught:
        await store.history.aggregate_calendar([1], 0, HOUR, CalendarUnit.DAY, "Mars/Olympus", [Aggregate.AVG])
    assert (caught.value.field, caught.value.value) == ("time_zone", "Mars/Olympus")


def test_fill_fills_empty_buckets_as_asked() -> None:
    starts = [0, 10, 20, 30, 40]
    values = [None, 1.0, None, None, 4.0]
    assert fill(starts, values, Fill.NONE) == ([10, 40], [1.0, 4.0])
    assert fill(starts, values, Fill.NULL) == (starts, values)
    assert fill(starts, values, Fill.PREVIOUS, initial=0.5) == (starts, [0.5, 1.0, 1.0, 1.0, 4.0])
    assert fill(starts, values, Fill.LINEAR) == (starts, [None, 1.0, 2.0, 3.0, 4.0])
