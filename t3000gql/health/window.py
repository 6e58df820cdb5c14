"""Rates and averages over the last HEALTH_WINDOW_SECONDS, from counters that only grow.

Each check takes a snapshot of the counters (requests, their seconds, errors; SQL statements and their seconds;
cache hits, misses, evictions). What happened in the window is the newest snapshot minus the oldest one still
inside the window (checks come every HEALTH_CHECK_INTERVAL_SECONDS, so that one is at most an interval younger
than the window's start; a window shorter than the interval sees nothing). So the hot paths only add to counters,
and a metric recovers by itself once the bad period leaves the window. Time is the server's clock (a test's
clock moves it).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class Counters:
    at: float
    """When the snapshot was taken, in seconds of the server's clock."""
    requests: int = 0
    request_seconds: float = 0.0
    request_errors: int = 0
    queries: int = 0
    query_seconds: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0
    cache_evictions: int = 0

    def minus(self, earlier: Counters) -> Counters:
        return Counters(*(getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)))


class CounterWindow:
    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds
        self._spacing = min(1.0, window_seconds / 20)
        """Snapshots closer together than this are not kept (a busy /health would otherwise fill the deque)."""
        self._snapshots: deque[Counters] = deque()

    def over_window(self, now: Counters) -> Counters:
        """What the counters did in the window ending at `now` (`at` is the time it covers, in seconds)."""
        snapshots = self._snapshots
        if not snapshots or now.at - snapshots[-1].at >= self._spacing:
            snapshots.append(now)
        start = now.at - self.window_seconds
        while len(snapshots) > 1 and snapshots[0].at < start:
            snapshots.popleft()
        return now.minus(snapshots[0])
