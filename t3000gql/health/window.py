"""Rates and averages over the last HEALTH_WINDOW_SECONDS, from counters that only grow.

Each check takes a snapshot of the counters (requests, their seconds, errors; SQL statements and their seconds;
cache hits, misses, evictions). What happened in the window is the newest snapshot minus the last one taken at or
before the window's start (or the first one, while the process is younger than the window). So the hot paths only
add to counters, and a metric recovers by itself once the bad period leaves the window.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class Counters:
    at: float
    """`time.monotonic()` of the snapshot."""
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
        while len(snapshots) > 1 and snapshots[1].at <= start:
            snapshots.popleft()
        return now.minus(snapshots[0])
