"""A value POSTed to the REST API goes through the one write path, so GraphQL subscribers hear it: a real uvicorn
on 127.0.0.1, a real WebSocket subscriber, a real HTTP POST."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from t3000gql.config import Settings
from tests.api.liveserver import InLoopServer, serve_in_loop
from tests.api.wsclient import GraphQLSocket
from tests.live.helpers import wait_until
from tests.rest.conftest import seed

SUBSCRIPTION = "subscription { pointValues(deviceId: 1001, includeInitial: false) { pointType pointNumber value timestamp source } }"
T_S = 1_790_000_000


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[InLoopServer]:
    settings = Settings.defaults(database_url=database_url, partition_cleanup_enabled=False)
    async with serve_in_loop(settings) as running:
        await seed(running.services.store)
        yield running


async def test_values_posted_over_rest_reach_graphql_subscribers(server: InLoopServer) -> None:
    async with GraphQLSocket.open(server.ws_url) as ws, httpx.AsyncClient(base_url=server.http_url) as http:
        await ws.subscribe("live", SUBSCRIPTION)
        await wait_until(lambda: server.services.live.metrics().subscribers == 1, "the subscription")
        posted = await http.post(
            "/api/device/1001/data",
            json={
                "device_id": 1001,
                "data_points": [{"point_type": "INPUT", "point_number": 1, "value": 26.5, "timestamp": T_S}],
            },
        )
        assert posted.status_code == 200, posted.text
        assert await ws.next_data("live") == {
            "pointValues": {
                "pointType": "INPUT",
                "pointNumber": 1,
                "value": 26.5,
                "timestamp": datetime.fromtimestamp(T_S, tz=UTC).isoformat(timespec="milliseconds"),
                "source": "API",
            }
        }
        stored = await http.post(
            "/api/timeseries/batch",
            json=[{"device_id": 1001, "point_type": 2, "point_number": 1, "value": 19.0, "timestamp": T_S + 1}],
        )
        assert stored.status_code == 200, stored.text
        message = await ws.next_data("live")
        assert (message["pointValues"]["pointType"], message["pointValues"]["value"]) == ("VARIABLE", 19.0)
