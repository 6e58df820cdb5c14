"""The powerReadings subscription over a real WebSocket to a real uvicorn (127.0.0.1, port 0) in the test's loop:
readings written by the API, by the service and by the live monitor (from the simulator) arrive whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from station_sim import StationSimulator

from t3000gql.domain.stations import ReadingInput, StationInput
from t3000gql.domain.timeutil import to_datetime
from t3000gql.services import Services
from tests.api.liveserver import InLoopServer, serve_in_loop
from tests.api.wsclient import GraphQLSocket
from tests.stations.station_helpers import station_settings

T0 = 1_790_000_000_000
SUBSCRIBE = (
    "subscription ($name: String) { powerReadings(stationName: $name) "
    "{ station { name } timestamp activePower1 muxPower1 source flaggedChannels } }"
)


@pytest.fixture
async def server(tmp_path: Path, database_url: str) -> AsyncIterator[InLoopServer]:
    async with serve_in_loop(station_settings(tmp_path, database_url)) as running:
        yield running


def iso(ts_ms: int) -> str:
    return to_datetime(ts_ms).isoformat(timespec="milliseconds")


async def record(services: Services, station: str, ts: int, power: float, energy: float, source: str) -> None:
    values = (power, *(None,) * 5, energy, None, None, None)
    await services.stations.record([ReadingInput(ts, values, station=station)], source)


def reading(ts: int, power: float, energy: float, source: str, flagged: list[str] | None = None) -> dict[str, Any]:
    return {
        "powerReadings": {
            "station": {"name": "A"},
            "timestamp": iso(ts),
            "activePower1": power,
            "muxPower1": energy,
            "source": source.upper(),
            "flaggedChannels": flagged or [],
        }
    }


async def test_each_stored_reading_of_the_station_comes_whole(server: InLoopServer) -> None:
    services = server.services
    await services.stations.create_station(StationInput(name="A"))
    await services.stations.create_station(StationInput(name="B"))
    async with GraphQLSocket.open(server.ws_url) as ws:
        await ws.subscribe("a", SUBSCRIBE, {"name": "A"})
        await record(services, "B", T0, 1.0, 1.0, "manual")  # another station: not sent
        await record(services, "A", T0, 100.0, 10.0, "websocket")
        assert await ws.next_data("a") == reading(T0, 100.0, 10.0, "websocket")
        await record(services, "A", T0, 100.0, 10.0, "log_migration")  # a duplicate: nothing stored, nothing sent
        await record(services, "A", T0 + 1000, 101.0, 5.0, "manual")  # the counter went backwards
        assert await ws.next_data("a") == reading(T0 + 1000, 101.0, 5.0, "manual", ["muxPower1"])
        await record(services, "A", T0, 150.0, 10.0, "manual")  # a correction comes again
        assert await ws.next_data("a") == reading(T0, 150.0, 10.0, "manual")
        await ws.complete("a")


async def test_unknown_station_is_not_found(server: InLoopServer) -> None:
    async with GraphQLSocket.open(server.ws_url) as ws:
        await ws.subscribe("x", SUBSCRIBE, {"name": "nope"})
        message = await ws.receive()
        assert (message["type"], message["payload"]["data"]) == ("next", None)
        assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_readings_from_the_live_monitor_arrive_in_order(server: InLoopServer) -> None:
    async with StationSimulator(["A"], rate_hz=200, max_readings=20) as simulator:
        simulator.pause()
        async with GraphQLSocket.open(server.ws_url) as ws:
            await server.services.stations.create_station(StationInput(name="A", websocket_url=simulator.url("A")))
            await ws.subscribe("a", SUBSCRIBE, {"name": "A"})
            simulator.resume()
            received = [(await ws.next_data("a"))["powerReadings"] for _ in range(20)]
    assert simulator.total_sent == 20
    assert {r["source"] for r in received} == {"WEBSOCKET"}
    stamps = [r["timestamp"] for r in received]
    assert stamps == sorted(set(stamps))
