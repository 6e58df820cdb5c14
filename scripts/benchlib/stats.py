"""Timings and their order statistics, by one formula for every scenario.

Percentiles interpolate linearly between the two closest ranks (numpy's default "linear" method, the
"inclusive" method of `statistics.quantiles`), so `percentile(v, 0.5)` is exactly `statistics.median(v)` and
a p95 over 20 runs is not simply the largest one. Before this module, two formulas (nearest rank by rounding,
and `sorted[int(q * n)]`) gave different p95s for the same timings in different scenarios.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

DIGITS = 3
"""Milliseconds are rounded to microseconds: finer digits are noise on this machine."""


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` quantile (0..1) of `values`, interpolated between the closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= share <= 1:
        raise ValueError(f"share must be within 0..1, got {share}")
    return _interpolate(sorted(values), share)


def _interpolate(ordered: Sequence[float], share: float) -> float:
    position = share * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 0.5)


def latency(values_ms: Sequence[float]) -> dict[str, float | None]:
    """median, p95, p99 and max of timings in ms (each None when there are none), rounded to microseconds."""
    if not values_ms:
        return {"median_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values_ms)
    return {
        "median_ms": round(_interpolate(ordered, 0.5), DIGITS),
        "p95_ms": round(_interpolate(ordered, 0.95), DIGITS),
        "p99_ms": round(_interpolate(ordered, 0.99), DIGITS),
        "max_ms": round(ordered[-1], DIGITS),
    }


def timed(func: Callable[[], Any]) -> float:
    """Milliseconds `func()` took."""
    start = time.perf_counter()
    func()
    return (time.perf_counter() - start) * 1000


async def atimed(func: Callable[[], Awaitable[Any]]) -> float:
    """Milliseconds `await func()` took."""
    start = time.perf_counter()
    await func()
    return (time.perf_counter() - start) * 1000
