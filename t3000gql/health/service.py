"""The health service: measures, judges and tells.

Every HEALTH_CHECK_INTERVAL_SECONDS (and whenever someone asks: the `health` query, /health, /health/ready) it
probes the database on a connection of its own (storage's `Database.probe`), measures every metric
(measure.py), judges each against its threshold, and for each metric, component or readiness whose state changed
since the last check it logs one line and sends a `HealthAlert` to every `alerts()` listener (the `healthAlerts`
subscription). The whole is as bad as its worst part. One check runs at a time; callers that come meanwhile
share its answer.

Readiness is apart from those states: the process is ready while the database can take a write within
HEALTH_WRITE_PROBE_SECONDS, the disk is not critical, no migration is pending, and no component says otherwise.

A part of the server with something of its own to show (a write backlog, a spool) contributes a component:

    services.health.contribute("writeBacklog", lambda: Component(HealthState.OK, "12 samples waiting"))

The callable is asked at each check (keep it cheap, no I/O); its state counts in the whole, its `details` show in
/health, and a `not_ready` reason makes /health/ready 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from t3000gql.collect.metrics import CollectionMetrics
from t3000gql.config import Settings
from t3000gql.domain.health import HealthAlert, HealthState, MetricReading, StateChanges, worst
from t3000gql.domain.timeutil import Clock
from t3000gql.health.histograms import LabelledHistogram
from t3000gql.health.measure import Measurer, Thresholds
from t3000gql.health.requests import RequestStats
from t3000gql.storage.database import DatabaseProbe
from t3000gql.storage.migrations import FOLDERS, available_migrations
from t3000gql.storage.store import Store
from t3000gql.storage.timing import READ, WRITE

log = logging.getLogger(__name__)

ALERT_QUEUE_SIZE = 256
"""Alerts a listener may fall behind by; beyond that the oldest are dropped (a state is sent again next change)."""
READINESS = "readiness"
"""The name readiness goes by in alerts and gauges (ok while ready, critical while not)."""


@dataclass(frozen=True, slots=True)
class Component:
    """What a part of the server contributes to health (see the module's docstring)."""

    state: HealthState
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    not_ready: str | None = None
    """Why the process cannot serve while this lasts (makes /health/ready 503); None when it can."""


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HealthReport:
    at_ms: int
    metrics: tuple[MetricReading, ...]
    components: dict[str, Component]
    readiness: Readiness

    @property
    def state(self) -> HealthState:
        return worst([*(m.state for m in self.metrics), *(c.state for c in self.components.values())])

    def metric(self, name: str) -> MetricReading:
        return next(m for m in self.metrics if m.name == name)

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "checkedAt": self.at_ms,
            "metrics": {
                m.name: {
                    "value": m.value,
                    "unit": m.unit,
                    "state": m.state.value,
                    "warning": None if m.threshold is None else m.threshold.warning,
                    "critical": None if m.threshold is None else m.threshold.critical,
                }
                for m in self.metrics
            },
            "components": {
                name: {"state": c.state.value, "summary": c.summary, "notReady": c.not_ready, **c.details}
                for name, c in self.components.items()
            },
        }


class HealthService:
    def __init__(self, settings: Settings, store: Store, collection: CollectionMetrics, clock: Clock) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self.requests = RequestStats()
        self.sql_histogram = LabelledHistogram(
            "t3000gql_sql_seconds", "Time of a database read or write transaction", "kind", (READ, WRITE)
        )
        self.collection_histogram = LabelledHistogram(
            "t3000gql_collection_seconds", "Time of one collection run, by the device's driver", "driver"
        )
        store.db.timings.observer = self.sql_histogram.observe
        collection.observer = lambda driver, seconds, _ok: self.collection_histogram.observe(driver, seconds)
        self._measurer = Measurer(
            store, collection, self.requests, Thresholds.of(settings), settings.health_window_seconds, clock
        )
        self._components: dict[str, Callable[[], Component]] = {}
        self._changes = StateChanges()
        self._listeners: set[asyncio.Queue[HealthAlert]] = set()
        self._check: asyncio.Task[HealthReport] | None = None
        self._migrations = available_migrations(FOLDERS[store.db.backend])
        """The migrations this server knows (the files do not change while it runs)."""
        self.last: HealthReport | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_HealthCollector(self))

    # --- for other parts ------------------------------------------------------------------------------------

    def contribute(self, name: str, report: Callable[[], Component]) -> None:
        """Adds (or replaces) a component of health; see the module's docstring."""
        self._components[name] = report

    def withdraw(self, name: str) -> None:
        self._components.pop(name, None)

    # --- checks ---------------------------------------------------------------------------------------------

    async def report(self) -> HealthReport:
        """Probes, measures and judges now (or shares the check in flight); alerts for what changed."""
        if self._check is None or self._check.done():
            self._check = asyncio.ensure_future(self._run_check())
        return await asyncio.shield(self._check)

    async def readiness(self) -> Readiness:
        return (await self.report()).readiness

    async def _run_check(self) -> HealthReport:
        probe = await self._store.db.probe(self._settings.health_write_probe_seconds)
        metrics = tuple(self._measurer.readings(probe))
        components = {}
        for name, contribute in list(self._components.items()):
            try:
                components[name] = contribute()
            except Exception as exc:
                log.exception("health component %s failed to report", name)
                components[name] = Component(HealthState.CRITICAL, f"failed to report: {exc}")
        reasons: list[str] = []
        if probe.refused is not None:
            reasons.append(probe.refused)
        reasons += self._pending_migrations(probe)
        disk = next(m for m in metrics if m.name == "diskUsage")
        if disk.state is HealthState.CRITICAL and disk.value is not None and disk.threshold is not None:
            reasons.append(f"disk usage {disk.value:.1%} is critical (above {disk.threshold.critical:.0%})")
        reasons += [f"{name}: {c.not_ready}" for name, c in components.items() if c.not_ready]
        report = HealthReport(self._clock(), metrics, components, Readiness(not reasons, tuple(reasons)))
        self.last = report
        for metric in metrics:
            self._judge(metric.name, metric.state, metric.value, _describe(metric))
        for name, component in components.items():
            self._judge(name, component.state, None, component.summary)
        ready = report.readiness.ready
        self._judge(
            READINESS,
            HealthState.OK if ready else HealthState.CRITICAL,
            None,
            "ready" if ready else "not ready: " + "; ".join(reasons),
        )
        return report

    def _pending_migrations(self, probe: DatabaseProbe) -> list[str]:
        if probe.schema_version is None:
            return [] if probe.refused is not None else ["the schema version cannot be read"]
        pending = [f"{m.version:04d}_{m.name}" for m in self._migrations if m.version > probe.schema_version]
        return [f"migrations pending: {', '.join(pending)} (run `t3000gql migrate`)"] if pending else []

    async def run(self) -> None:
        """The periodic check (a task of Services, in every process: each has its own requests and cache)."""
        while True:
            try:
                await self.report()
            except Exception:
                log.exception("health check failed")
            await asyncio.sleep(self._settings.health_check_interval_seconds)

    # --- alerts ---------------------------------------------------------------------------------------------

    @property
    def listening(self) -> int:
        """Alert listeners now (`healthAlerts` subscriptions of this process)."""
        return len(self._listeners)

    async def alerts(self) -> AsyncGenerator[HealthAlert, None]:
        """Each change of state from now on (the `healthAlerts` subscription)."""
        queue: asyncio.Queue[HealthAlert] = asyncio.Queue(ALERT_QUEUE_SIZE)
        self._listeners.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._listeners.discard(queue)

    def _judge(self, name: str, state: HealthState, value: float | None, description: str) -> None:
        previous = self._changes.changed(name, state)
        if previous is None:
            return
        message = f"{name} is {state.value} (was {previous.value}): {description}"
        log.log(logging.WARNING if state.rank > previous.rank else logging.INFO, "health: %s", message)
        alert = HealthAlert(name, previous, state, value, self._clock(), message)
        for queue in self._listeners:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(alert)


def _describe(metric: MetricReading) -> str:
    value = "no data" if metric.value is None else f"{metric.value:g} {metric.unit}"
    if metric.threshold is None:
        return value
    return f"{value} (warning {metric.threshold.warning:g}, critical {metric.threshold.critical:g})"


_STATE_NUMBER = {HealthState.OK: 0.0, HealthState.WARNING: 1.0, HealthState.CRITICAL: 2.0}


class _HealthCollector(Collector):
    """/metrics' view of health: the histograms, and each metric's last state and value as gauges."""

    def __init__(self, health: HealthService) -> None:
        self._health = health

    def collect(self) -> Iterable[Metric]:
        health = self._health
        yield health.requests.histogram.family()
        yield health.sql_histogram.family()
        yield health.collection_histogram.family()
        states = GaugeMetricFamily(
            "t3000gql_health_state", "State at the last check: 0 ok, 1 warning, 2 critical", labels=["metric"]
        )
        values = GaugeMetricFamily(
            "t3000gql_health_value", "Value at the last check (unit: see /health)", labels=["metric"]
        )
        report = health.last
        if report is not None:
            states.add_metric(["overall"], _STATE_NUMBER[report.state])
            for metric in report.metrics:
                states.add_metric([metric.name], _STATE_NUMBER[metric.state])
                if metric.value is not None:
                    values.add_metric([metric.name], float(metric.value))
            for name, component in report.components.items():
                states.add_metric([name], _STATE_NUMBER[component.state])
        readiness = None if report is None else report.readiness
        if readiness is not None:
            states.add_metric([READINESS], 0.0 if readiness.ready else 2.0)
        yield states
        yield values
        yield GaugeMetricFamily(
            "t3000gql_ready",
            "1 while the last readiness check passed",
            value=1.0 if readiness is not None and readiness.ready else 0.0,
        )
