"""/metrics in Prometheus text format: request gate, cache and database counters (all cheap to read)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from t3000gql.api.limits import RequestGate
from t3000gql.services import Services


def metrics_endpoint(gate: RequestGate) -> Callable[[Request], Awaitable[PlainTextResponse]]:
    async def metrics(request: Request) -> PlainTextResponse:
        services: Services = request.app.state.services
        stats = services.store.cache.stats()
        lines = []
        for name, kind, value, help_text in (
            ("graphql_requests_in_flight", "gauge", gate.in_flight, "HTTP GraphQL requests being answered"),
            ("graphql_requests_total", "counter", gate.admitted, "HTTP GraphQL requests admitted"),
            ("graphql_requests_refused_total", "counter", gate.refused, "requests refused with RATE_LIMITED"),
            ("graphql_requests_timed_out_total", "counter", gate.timed_out, "requests stopped with TIMEOUT"),
            ("cache_points", "gauge", stats.total_points, "points with a cached value"),
            ("cache_fresh_points", "gauge", stats.fresh_points, "cached values younger than the TTL"),
            ("cache_hits_total", "counter", stats.hits, "current-value lookups answered fresh"),
            ("cache_misses_total", "counter", stats.misses, "current-value lookups missing or stale"),
            ("sql_statements_total", "counter", services.store.db.statements, "reads sent to SQLite"),
            ("history_partitions", "gauge", len(services.store.partitions.years), "yearly history tables"),
        ):
            lines += [
                f"# HELP t3000gql_{name} {help_text}",
                f"# TYPE t3000gql_{name} {kind}",
                f"t3000gql_{name} {value}",
            ]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    return metrics
