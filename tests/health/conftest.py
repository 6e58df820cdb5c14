"""A real server on 127.0.0.1 in the test's loop over the seeded site of tests/api, with a clock the test moves
(the health window follows it), checks every 50 ms, and an HTTP client and a healthAlerts subscription."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest

from t3000gql.config import Settings
from tests.api.conftest import NOW, seed, seed_file
from tests.api.liveserver import InLoopServer, serve_in_loop
from tests.api.wsclient import GraphQLSocket
from tests.conftest import ANY_YEAR_SKEW_SECONDS, FakeClock
from tests.live.helpers import wait_until

ALERTS = "subscription { healthAlerts { metric previous state value at message } }"


@pytest.fixture
def site(database_url: str) -> Settings:
    settings = Settings.defaults(
        database_url=database_url,
        partition_cleanup_enabled=False,
        max_clock_skew_seconds=ANY_YEAR_SKEW_SECONDS,
        health_check_interval_seconds=0.05,
        health_window_seconds=60,
        health_write_probe_seconds=0.3,
    )
    seed_file(settings, seed)
    return settings


@dataclass
class Running:
    server: InLoopServer
    http: httpx.AsyncClient
    clock: FakeClock
    alerts: GraphQLSocket

    async def graphql(self, query: str) -> dict[str, Any]:
        response = await self.http.post("/graphql", json={"query": query})
        body: dict[str, Any] = response.json()
        return body

    async def next_alert(self, metric: str) -> dict[str, Any]:
        """The next healthAlerts event about `metric` (others are skipped); within the socket's TIMEOUT."""
        while True:
            alert: dict[str, Any] = (await self.alerts.next_data("alerts"))["healthAlerts"]
            if alert["metric"] == metric:
                return alert


@contextlib.asynccontextmanager
async def running(settings: Settings, **overrides: Any) -> AsyncIterator[Running]:
    clock = FakeClock(NOW)
    async with (
        serve_in_loop(replace(settings, **overrides), clock=clock) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=10) as http,
        GraphQLSocket.open(server.ws_url) as alerts,
    ):
        await alerts.subscribe("alerts", ALERTS)
        health = server.services.health_checks
        await wait_until(lambda: health.listening == 1, "healthAlerts subscription")
        yield Running(server, http, clock, alerts)
