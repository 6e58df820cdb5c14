"""`health` (every metric of seed 000's SystemHealthMetrics with its state, readiness, components) and
`healthAlerts` (each change of state as it happens), over the health service (t3000gql/health/). Any identity
may read them (viewer): they hold measurements, not addresses or errors of devices."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from t3000gql.api.context import Info
from t3000gql.domain import health as domain
from t3000gql.domain.health import HealthState, MetricReading
from t3000gql.domain.timeutil import to_datetime
from t3000gql.health import Component, HealthReport, Readiness

strawberry.enum(
    HealthState,
    description="OK, WARNING or CRITICAL against the metric's thresholds (HEALTH_* settings); a metric with no "
    "data yet (no request, no run in its window) is OK with a null value.",
)


@strawberry.type(description="One measured metric, its thresholds and its state.")
class HealthMetric:
    name: str
    value: float | None = strawberry.field(description="Null while there is nothing to measure yet.")
    unit: str = strawberry.field(description="ratio (0 to 1), ms, bytes, per minute, connections, runs.")
    state: HealthState
    warning: float | None = strawberry.field(description="The warning threshold, in the metric's unit.")
    critical: float | None = strawberry.field(description="The critical threshold, in the metric's unit.")
    description: str

    @classmethod
    def of(cls, metric: MetricReading) -> HealthMetric:
        threshold = metric.threshold
        return cls(
            name=metric.name,
            value=metric.value,
            unit=metric.unit,
            state=metric.state,
            warning=None if threshold is None else threshold.warning,
            critical=None if threshold is None else threshold.critical,
            description=metric.description,
        )


@strawberry.type(description="What a part of the server contributes to health (a write backlog, a spool).")
class HealthComponent:
    name: str
    state: HealthState
    summary: str
    not_ready: str | None = strawberry.field(description="Why the server is not ready while this lasts.")

    @classmethod
    def of(cls, name: str, component: Component) -> HealthComponent:
        return cls(name=name, state=component.state, summary=component.summary, not_ready=component.not_ready)


@strawberry.type(description="This server process's health, measured when asked.")
class Health:
    state: HealthState = strawberry.field(description="The worst state of its metrics and components.")
    ready: bool = strawberry.field(description="What /health/ready answers: false with reasons (a 503 there).")
    reasons: list[str] = strawberry.field(description="Why it is not ready; empty while ready.")
    checked_at: datetime
    metrics: list[HealthMetric]
    components: list[HealthComponent]
    cache_hit_rate: HealthMetric
    cache_size_bytes: HealthMetric
    cache_eviction_rate: HealthMetric
    database_connection_count: HealthMetric
    database_query_time_avg_ms: HealthMetric
    database_size_bytes: HealthMetric
    collection_success_rate: HealthMetric
    collection_latency_avg_ms: HealthMetric
    failed_collections_last_hour: HealthMetric
    api_requests_per_minute: HealthMetric
    api_response_time_avg_ms: HealthMetric
    api_error_rate: HealthMetric
    disk_usage: HealthMetric
    process_memory_bytes: HealthMetric

    @classmethod
    def of(cls, report: HealthReport, readiness: Readiness) -> Health:
        metrics = {metric.name: HealthMetric.of(metric) for metric in report.metrics}
        return cls(
            state=report.state,
            ready=readiness.ready,
            reasons=list(readiness.reasons),
            checked_at=to_datetime(report.at_ms),
            metrics=list(metrics.values()),
            components=[HealthComponent.of(name, c) for name, c in report.components.items()],
            cache_hit_rate=metrics["cacheHitRate"],
            cache_size_bytes=metrics["cacheSizeBytes"],
            cache_eviction_rate=metrics["cacheEvictionRate"],
            database_connection_count=metrics["databaseConnectionCount"],
            database_query_time_avg_ms=metrics["databaseQueryTimeAvgMs"],
            database_size_bytes=metrics["databaseSizeBytes"],
            collection_success_rate=metrics["collectionSuccessRate"],
            collection_latency_avg_ms=metrics["collectionLatencyAvgMs"],
            failed_collections_last_hour=metrics["failedCollectionsLastHour"],
            api_requests_per_minute=metrics["apiRequestsPerMinute"],
            api_response_time_avg_ms=metrics["apiResponseTimeAvgMs"],
            api_error_rate=metrics["apiErrorRate"],
            disk_usage=metrics["diskUsage"],
            process_memory_bytes=metrics["processMemoryBytes"],
        )


@strawberry.type(description="A metric, component or readiness changed state.")
class HealthAlert:
    metric: str = strawberry.field(description="The metric's name, a component's, or `readiness`.")
    previous: HealthState
    state: HealthState
    value: float | None
    at: datetime
    message: str

    @classmethod
    def of(cls, alert: domain.HealthAlert) -> HealthAlert:
        return cls(
            metric=alert.metric,
            previous=alert.previous,
            state=alert.state,
            value=alert.value,
            at=to_datetime(alert.at_ms),
            message=alert.message,
        )


@strawberry.type
class HealthQueries:
    @strawberry.field(description="Every health metric measured now, with its state; readiness and components.")
    async def health(self, info: Info) -> Health:
        report = await info.context.services.health_checks.report()
        return Health.of(report, report.readiness)


@strawberry.type
class HealthSubscriptions:
    @strawberry.subscription(
        description="Each change of state of a health metric, a component or readiness, from now on (checked "
        "every HEALTH_CHECK_INTERVAL_SECONDS and whenever health is asked)."
    )
    async def health_alerts(self, info: Info) -> AsyncGenerator[HealthAlert, None]:
        feed = info.context.services.health_checks.alerts()
        async with contextlib.aclosing(feed):
            async for alert in feed:
                yield HealthAlert.of(alert)
