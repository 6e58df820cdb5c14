"""/metrics in Prometheus text format, written by prometheus-client: the request gate, cache and database
counters, requests by role and refused ones, WebSockets (all cheap to read), then health's histograms (API
request time by operation type, SQL time by read/write, collection time by driver) and its states as gauges
(t3000gql/health/). Behind the same token check as /graphql when AUTH_REQUIRED.

Values are read when /metrics is asked (custom collectors), so the hot paths only add to plain counters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response

from t3000gql.api.edge import SocketCount
from t3000gql.api.limits import RequestGate
from t3000gql.auth import Role
from t3000gql.services import Services


class ServerCollector(Collector):
    """The counters and gauges /metrics had before prometheus-client, under the same names."""

    def __init__(self, gate: RequestGate, sockets: SocketCount) -> None:
        self._gate = gate
        self._sockets = sockets
        self.services: Services | None = None
        """Set for each scrape (the services live in the app's state, not here)."""

    def collect(self) -> Iterable[Metric]:
        services, gate, sockets = self.services, self._gate, self._sockets
        if services is None:
            return
        stats = services.store.cache.stats()
        auth = services.auth
        for name, kind, value, help_text in (
            ("graphql_requests_in_flight", "gauge", gate.in_flight, "HTTP GraphQL requests being answered"),
            ("graphql_requests_total", "counter", gate.admitted, "HTTP GraphQL requests admitted"),
            ("graphql_requests_refused_total", "counter", gate.refused, "requests refused with RATE_LIMITED"),
            ("graphql_requests_timed_out_total", "counter", gate.timed_out, "requests stopped with TIMEOUT"),
            ("cache_points", "gauge", stats.total_points, "points with a cached value"),
            ("cache_fresh_points", "gauge", stats.fresh_points, "cached values younger than the TTL"),
            ("cache_hits_total", "counter", stats.hits, "current-value lookups answered fresh"),
            ("cache_misses_total", "counter", stats.misses, "current-value lookups missing or stale"),
            ("cache_evictions_total", "counter", services.store.cache.evictions, "values dropped from the cache"),
            ("sql_statements_total", "counter", services.store.db.statements, "reads sent to the database"),
            ("history_partitions", "gauge", len(services.store.partitions.years), "yearly history tables"),
            ("unauthenticated_total", "counter", auth.unauthenticated, "requests refused with UNAUTHENTICATED"),
            ("websockets_open", "gauge", sockets.open, "WebSocket connections open"),
            ("websockets_refused_total", "counter", sockets.refused, "WebSockets refused at WS_MAX_CONNECTIONS"),
            ("websockets_with_token", "gauge", auth.watched, "open WebSockets authenticated by a token"),
        ):
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(f"t3000gql_{name}", help_text, value=value)
        for name, counts, help_text in (
            ("admitted_total", auth.limiter.admitted, "requests and WebSocket operations admitted, by role"),
            (
                "rate_limited_total",
                auth.limiter.limited,
                "refused with RATE_LIMITED past API_RATE_LIMIT_PER_MINUTE",
            ),
        ):
            by_role = CounterMetricFamily(f"t3000gql_{name}", help_text, labels=["role"])
            for role in Role:
                by_role.add_metric([role.label], counts[role.label])
            yield by_role


def metrics_endpoint(gate: RequestGate, sockets: SocketCount) -> Callable[[Request], Awaitable[Response]]:
    collector = ServerCollector(gate, sockets)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)

    async def metrics(request: Request) -> Response:
        services: Services = request.app.state.services
        collector.services = services
        body = generate_latest(registry) + generate_latest(services.health_checks.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics
