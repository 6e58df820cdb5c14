"""Health states and thresholds (seed 000's "Alerting Thresholds"): plain rules, no I/O.

A metric is `ok`, `warning` or `critical` by comparing its value with two limits; which side is bad depends on
the metric (a hit rate is bad when low, a response time when high). A metric with no value yet (no request, no
collection run, no lookup in the window) is `ok`: nothing measured is nothing wrong, and the value says null. The
whole is as bad as its worst part. `StateChanges` remembers each metric's last state, so an alert (and a log line)
is made once per change, not once per check.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class HealthState(enum.Enum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {HealthState.OK: 0, HealthState.WARNING: 1, HealthState.CRITICAL: 2}


def worst(states: Iterable[HealthState]) -> HealthState:
    """The worst of `states` (OK when there are none)."""
    return max(states, key=lambda state: state.rank, default=HealthState.OK)


@dataclass(frozen=True, slots=True)
class Threshold:
    """Two limits in the metric's own unit. `high_is_bad`: warning above `warning`, critical above `critical`
    (response times, disk usage); else warning below `warning`, critical below `critical` (rates of success)."""

    warning: float
    critical: float
    high_is_bad: bool

    def state_of(self, value: float | None) -> HealthState:
        if value is None:
            return HealthState.OK
        if self.high_is_bad:
            if value > self.critical:
                return HealthState.CRITICAL
            return HealthState.WARNING if value > self.warning else HealthState.OK
        if value < self.critical:
            return HealthState.CRITICAL
        return HealthState.WARNING if value < self.warning else HealthState.OK


@dataclass(frozen=True, slots=True)
class MetricReading:
    """One metric as measured at one check."""

    name: str
    """camelCase, as seed 000's SystemHealthMetrics names it (`cacheHitRate`), plus `diskUsage` and
    `processMemoryBytes`."""
    value: float | None
    unit: str
    description: str
    threshold: Threshold | None = None
    """None for metrics that are shown but not judged (sizes, counts)."""

    @property
    def state(self) -> HealthState:
        return HealthState.OK if self.threshold is None else self.threshold.state_of(self.value)


@dataclass(frozen=True, slots=True)
class HealthAlert:
    """A metric (or a component, or readiness) whose state changed between two checks."""

    metric: str
    previous: HealthState
    state: HealthState
    value: float | None
    at_ms: int
    message: str


class StateChanges:
    """The last state of each name; `changed` says what moved since the last call. Names first seen count as
    coming from OK (a server that starts with a full disk says so once)."""

    def __init__(self) -> None:
        self._states: dict[str, HealthState] = {}

    def changed(self, name: str, state: HealthState) -> HealthState | None:
        """The previous state when `state` differs from it, else None; `state` becomes the last one."""
        previous = self._states.get(name, HealthState.OK)
        self._states[name] = state
        return previous if previous is not state else None
