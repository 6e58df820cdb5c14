"""Samples and the rules every value must pass before it is stored."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from t3000gql.domain.points import PointRef
from t3000gql.domain.timeutil import MAX_TS_MS, MIN_TS_MS, to_datetime
from t3000gql.errors import ValidationError


class Quality(enum.IntEnum):
    GOOD = 0
    UNCERTAIN = 1
    BAD = 2


class Aggregate(enum.Enum):
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    COUNT = "count"
    FIRST = "first"
    LAST = "last"
    TWA = "twa"
    """Time-weighted average: each value holds until the next sample (at most maxGapSeconds)."""
    DELTA = "delta"
    """The increase of a counter within the bucket: consecutive differences, a drop counted as a reset to 0."""
    RANGE = "range"
    """max - min."""


class Sample(NamedTuple):
    """One value of one point at one instant, as it enters the write path.

    A NamedTuple rather than a frozen dataclass (as PointRef): a log import builds ten per reading, millions in
    all, and a tuple is built in about half the time a frozen dataclass' __init__ takes."""

    point: PointRef
    ts_ms: int
    value: float
    trend_log_id: int | None = None
    quality: Quality = Quality.GOOD


@dataclass(frozen=True, slots=True)
class StoredSample:
    """A sample the write path accepted: what the cache holds and the live bus publishes."""

    point: PointRef
    point_id: int
    ts_ms: int
    value: float
    source: str
    trend_log_id: int | None = None


@dataclass(frozen=True, slots=True)
class CurrentValue:
    """The current value of a point as a reader gets it: `stale` when older than CACHE_DURATION_SECONDS."""

    point_id: int
    value: float
    ts_ms: int
    source: str
    stale: bool


def check_value(value: object, *, index: int | None = None, field: str = "value") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError("must be a number", field=field, index=index, value=value)
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(
            "must be a finite number (no NaN or infinity)", field=field, index=index, value=value
        )
    return number


def check_timestamp(ts_ms: object, *, index: int | None = None, field: str = "timestamp") -> int:
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, int):
        raise ValidationError("must be an integer epoch in milliseconds", field=field, index=index, value=ts_ms)
    if not MIN_TS_MS <= ts_ms < MAX_TS_MS:
        raise ValidationError(
            "must lie between 1970-01-01 and 2100-01-01 (UTC)", field=field, index=index, value=ts_ms
        )
    return ts_ms


class FutureLimit(NamedTuple):
    """How far ahead of the server's clock a sample may lie (MAX_CLOCK_SKEW_SECONDS): one device with a clock
    running ahead would otherwise pin its point's current value until real time caught up."""

    now_ms: int
    skew_ms: int

    @property
    def latest_ms(self) -> int:
        return self.now_ms + self.skew_ms


def check_not_future(ts_ms: int, limit: FutureLimit, *, index: int | None = None, field: str = "timestamp") -> int:
    if ts_ms > limit.latest_ms:
        raise ValidationError(
            f"lies {(ts_ms - limit.now_ms) / 1000:.0f} s after the server's time "
            f"{to_datetime(limit.now_ms).isoformat(timespec='seconds')}, more than the {limit.skew_ms // 1000} s "
            "a clock may be ahead (MAX_CLOCK_SKEW_SECONDS): check the sender's clock",
            field=field,
            index=index,
            value=ts_ms,
        )
    return ts_ms


def check_samples(samples: Sequence[Sample], future: FutureLimit | None = None) -> None:
    """Checks value and time of every sample (not later than `future` allows, when given); raises on the first
    bad one, naming its index.

    The loop is the write path's hottest Python: the common case is decided with type() and comparisons only
    (`v - v == 0.0` is False for NaN and infinities), the slow checks run only to phrase the error."""
    high = MAX_TS_MS if future is None else min(MAX_TS_MS, future.latest_ms + 1)
    for index, sample in enumerate(samples):
        value, ts = sample.value, sample.ts_ms
        kind = type(value)
        if not ((kind is float or kind is int) and value - value == 0.0):
            check_value(value, index=index)
        if type(ts) is not int or not MIN_TS_MS <= ts < high:
            check_timestamp(ts, index=index)
            if future is not None:
                check_not_future(ts, future, index=index)
