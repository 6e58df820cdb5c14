"""Collection metrics for /health: success rate, latency and failures over the last hour, totals since start.

Runs are kept in a deque trimmed to one hour, so the report costs O(runs in the last hour): with 1,000 trend
logs at 60 s that is 60,000 small tuples, a few MB at most.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from t3000gql.domain.timeutil import Clock

WINDOW_MS = 3_600_000


class Run(NamedTuple):
    at_ms: int
    trend_log_id: int
    device_id: int
    ok: bool
    latency_ms: float
    samples: int
    failed_points: int


class LastHour(NamedTuple):
    """Runs of the last hour in three numbers (/health's collection metrics); None where there was no run."""

    runs: int
    failures: int
    success_rate: float | None
    latency_avg_ms: float | None
    """Average time of a run, failed ones included (a timeout is the slowest run there is)."""


RunObserver = Callable[[str, float, bool], None]
"""Hears each run: the device's driver (its protocol), seconds taken, whether it succeeded."""


class CollectionMetrics:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._runs: deque[Run] = deque()
        self.runs_total = 0
        self.failures_total = 0
        self.samples_total = 0
        self.failed_points_total = 0
        """Points a device answered with an error (or that could not be asked for), summed over runs."""
        self.overlaps_skipped = 0
        """Ticks that found the trend log's previous run still going (and so did not start another)."""
        self.offline_skipped = 0
        """Ticks of trend logs whose device was in its skip window."""
        self.repeated_samples = 0
        """Collected samples that history already held (same point and time): an interval collected twice, as
        two leaders at once would. Zero is what leadership promises (docs/scaling.md)."""
        self.last_error: str | None = None
        self.observer: RunObserver | None = None
        """The /metrics histogram of collection time by driver (set by the health service)."""

    def record(
        self,
        trend_log_id: int,
        device_id: int,
        *,
        ok: bool,
        latency_ms: float,
        samples: int = 0,
        failed_points: int = 0,
        driver: str = "unknown",
    ) -> None:
        now = self._clock()
        if self.observer is not None:
            self.observer(driver, latency_ms / 1000, ok)
        self._runs.append(Run(now, trend_log_id, device_id, ok, latency_ms, samples, failed_points))
        self.runs_total += 1
        self.samples_total += samples
        self.failed_points_total += failed_points
        if not ok:
            self.failures_total += 1
        self._trim(now)

    def _trim(self, now: int) -> None:
        runs = self._runs
        while runs and runs[0].at_ms <= now - WINDOW_MS:
            runs.popleft()

    def last_hour(self) -> LastHour:
        self._trim(self._clock())
        runs = len(self._runs)
        if not runs:
            return LastHour(0, 0, None, None)
        failures = sum(not run.ok for run in self._runs)
        latency = sum(run.latency_ms for run in self._runs) / runs
        return LastHour(runs, failures, (runs - failures) / runs, latency)

    def report(self) -> dict[str, Any]:
        self._trim(self._clock())
        runs = list(self._runs)
        failures = [run for run in runs if not run.ok]
        latencies = sorted(run.latency_ms for run in runs if run.ok)
        return {
            "lastHour": {
                "runs": len(runs),
                "failures": len(failures),
                "successRate": round((len(runs) - len(failures)) / len(runs), 4) if runs else None,
                "latencyMs": {
                    "p50": _percentile(latencies, 0.5),
                    "p95": _percentile(latencies, 0.95),
                    "max": round(latencies[-1], 1) if latencies else None,
                },
                "samples": sum(run.samples for run in runs),
                "failedPoints": sum(run.failed_points for run in runs),
                "failingDevices": sorted({run.device_id for run in failures}),
            },
            "total": {
                "runs": self.runs_total,
                "failures": self.failures_total,
                "samples": self.samples_total,
                "failedPoints": self.failed_points_total,
                "overlapsSkipped": self.overlaps_skipped,
                "offlineSkipped": self.offline_skipped,
                "repeatedSamples": self.repeated_samples,
            },
            "lastError": self.last_error,
        }


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)
