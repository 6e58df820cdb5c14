"""Time as the storage sees it: integer epoch milliseconds, UTC, ranges half-open [start, end).

Timestamps are limited to 1970-01-01 .. 2100-01-01 so that a year partition can always be named from them and
integer bucket arithmetic never meets a negative number.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], int]
"""Returns 'now' in epoch milliseconds. Injected everywhere time matters so tests never sleep."""

MIN_TS_MS = 0
MAX_TS_MS = 4102444800000  # 2100-01-01T00:00:00Z, exclusive


def system_clock() -> int:
    return time.time_ns() // 1_000_000


def year_of(ts_ms: int) -> int:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).year


def year_start_ms(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp()) * 1000


def years_between(start_ms: int, end_ms: int) -> range:
    """The calendar years that the half-open range [start_ms, end_ms) touches."""
    if end_ms <= start_ms:
        return range(0)
    return range(year_of(start_ms), year_of(end_ms - 1) + 1)


def to_datetime(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)


def from_datetime(value: datetime) -> int:
    """Epoch ms of an aware datetime (naive ones are taken as UTC; the API layer resolves site time first)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1000)
