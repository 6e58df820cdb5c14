"""/metrics in Prometheus text format: request gate, cache and database counters, requests by role and refused
ones, WebSockets (all cheap to read). Behind the same token check as /graphql when AUTH_REQUIRED."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from t3000gql.api.edge import SocketCount
from t3000gql.api.limits import RequestGate
from t3000gql.auth import Role
from t3000gql.services import Services


def metrics_endpoint(gate: RequestGate, sockets: SocketCount) -> Callable[[Request], Awaitable[PlainTextResponse]]:
    async def metrics(request: Request) -> PlainTextResponse:
        services: Services = request.app.state.services
        stats = services.store.cache.stats()
        auth = services.auth
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
            ("unauthenticated_total", "counter", auth.unauthenticated, "requests refused with UNAUTHENTICATED"),
            ("websockets_open", "gauge", sockets.open, "WebSocket connections open"),
            ("websockets_refused_total", "counter", sockets.refused, "WebSockets refused at WS_MAX_CONNECTIONS"),
            ("websockets_with_token", "gauge", auth.watched, "open WebSockets authenticated by a token"),
        ):
            lines += [
                f"# HELP t3000gql_{name} {help_text}",
                f"# TYPE t3000gql_{name} {kind}",
                f"t3000gql_{name} {value}",
            ]
        for name, counts, help_text in (
            ("admitted_total", auth.limiter.admitted, "requests and WebSocket operations admitted, by role"),
            (
                "rate_limited_total",
                auth.limiter.limited,
                "refused with RATE_LIMITED past API_RATE_LIMIT_PER_MINUTE",
            ),
        ):
            lines += [f"# HELP t3000gql_{name} {help_text}", f"# TYPE t3000gql_{name} counter"]
            lines += [f't3000gql_{name}{{role="{role.label}"}} {counts[role.label]}' for role in Role]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    return metrics
