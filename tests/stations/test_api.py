"""Stations and power readings through /graphql of the real app (Starlette TestClient, lifespan running), and
the live monitor feeding it from the station simulator over a real WebSocket."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from station_sim import StationSimulator

from tests.api.conftest import GraphQLClient, open_client
from tests.stations.station_helpers import station_settings

READING_FIELDS = (
    "timestamp activePower1 activePower2 activePower3 activePower4 activePower5 activePower6 "
    "muxPower1 muxPower2 muxPower3 muxPower4 source flaggedChannels station { name }"
)
RECORD = """
mutation ($inputs: [PowerReadingInput!]!, $source: DataSource! = MANUAL) {
  recordPowerReadings(inputs: $inputs, source: $source) {
    count imported duplicates flagged { index station timestamp field value previous }
  }
}
"""


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> Iterator[GraphQLClient]:
    with open_client(station_settings(tmp_path, database_url)) as client:
        yield client


def create(client: GraphQLClient, name: str, **fields: Any) -> dict[str, Any]:
    data = client.data(
        "mutation ($input: StationInput!) { createStation(input: $input) { deviceId name uuid ipAddress scene "
        "websocketUrl channels { field name pointType pointNumber unit } } }",
        {"input": {"name": name, **fields}},
    )
    station: dict[str, Any] = data["createStation"]
    return station


def reading(ts: str, station: str = "TV-1", power: float = 1000.0, energy: float = 100.0) -> dict[str, Any]:
    return {
        "station": station,
        "timestamp": ts,
        **{f"activePower{i}": power + i for i in range(1, 7)},
        **{f"muxPower{i}": energy + i for i in range(1, 5)},
    }


def test_create_look_up_and_change_stations(client: GraphQLClient) -> None:
    created = create(client, "TV-1", ipAddress="10.0.0.5", scene="roof", uuid="tv-1-uuid")
    assert created["deviceId"] == 4_000_000
    assert [c["name"] for c in created["channels"]][6:] == ["TV5", "MCOT", "PRD", "TPBS"]
    assert created["channels"][0] == {
        "field": "activePower1",
        "name": "activePower1",
        "pointType": "INPUT",
        "pointNumber": 1,
        "unit": "W",
    }
    by_uuid = client.data('{ station(uuid: "tv-1-uuid") { name device { deviceType ipAddress } } }')["station"]
    assert by_uuid == {"name": "TV-1", "device": {"deviceType": "power_station", "ipAddress": "10.0.0.5"}}
    changed = client.data(
        'mutation { upsertStation(input: {name: "TV-1", scene: "mast", '
        'channelNames: [{field: muxPower1, name: "TV5 HD"}]}) { scene channels { name } } }'
    )["upsertStation"]
    assert changed["scene"] == "mast" and changed["channels"][6]["name"] == "TV5 HD"
    assert [s["name"] for s in client.data("{ stations { name } }")["stations"]] == ["TV-1"]
    conflict = client.error('mutation { createStation(input: {name: "TV-2", uuid: "tv-1-uuid"}) { name } }')
    assert conflict["extensions"]["code"] == "BAD_USER_INPUT" and "uuid" in conflict["message"]
    missing = client.error('{ station(name: "nope") { name } }')
    assert missing["extensions"]["code"] == "NOT_FOUND"


def test_record_readings_all_or_nothing_with_precise_errors(client: GraphQLClient) -> None:
    create(client, "TV-1")
    good = reading("2024-01-15T10:30:00Z")
    error = client.error(
        RECORD, {"inputs": [good, {**good, "timestamp": "2024-01-15T10:30:01Z", "muxPower2": -3}]}
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "muxPower2", "index": 1, "value": -3.0}
    unknown = client.error(RECORD, {"inputs": [{**good, "station": "nope"}]})
    assert (unknown["extensions"]["field"], unknown["extensions"]["index"]) == ("station", 0)
    assert client.data("{ powerReadingCount }")["powerReadingCount"] == 0

    result = client.data(RECORD, {"inputs": [good, reading("2024-01-15T10:30:01Z", power=1100, energy=101)]})
    assert result["recordPowerReadings"] == {"count": 2, "imported": 2, "duplicates": 0, "flagged": []}
    again = client.data(RECORD, {"inputs": [good], "source": "LOG_MIGRATION"})
    assert again["recordPowerReadings"]["duplicates"] == 1
    backwards = client.data(
        'mutation { recordPowerReading(input: {station: "TV-1", timestamp: "2024-01-15T10:30:02Z", '
        "muxPower1: 5}) { imported flagged { field value previous } } }"
    )["recordPowerReading"]
    assert backwards == {"imported": 1, "flagged": [{"field": "muxPower1", "value": 5.0, "previous": 102.0}]}


def test_query_readings_latest_buckets_and_series(client: GraphQLClient) -> None:
    create(client, "TV-1")
    create(client, "TV-2")
    client.data(
        RECORD,
        {"inputs": [reading(f"2024-01-15T10:30:{s:02d}Z", power=1000 + s, energy=100 + s) for s in range(10)]},
    )
    client.data(RECORD, {"inputs": [reading("2024-01-15T10:30:05.500Z", station="TV-2")], "source": "WEBSOCKET"})
    page = client.data(
        f'{{ powerReadings(filter: {{stationName: "TV-1", startDate: "2024-01-15T10:30:02Z", '
        f'endDate: "2024-01-15T10:30:08Z", orderDirection: DESC, limit: 2, offset: 1}}) {{ {READING_FIELDS} }} }}'
    )["powerReadings"]
    assert [r["timestamp"] for r in page] == ["2024-01-15T10:30:06.000+00:00", "2024-01-15T10:30:05.000+00:00"]
    assert page[0]["activePower1"] == 1007.0 and page[0]["muxPower4"] == 110.0 and page[0]["source"] == "MANUAL"
    everyone = client.data("{ powerReadings(filter: {limit: 100}) { station { name } } powerReadingCount }")
    assert len(everyone["powerReadings"]) == everyone["powerReadingCount"] == 11
    newest = client.data(
        "{ powerReadings(filter: {orderBy: CREATED_AT, orderDirection: DESC, limit: 1}) { source } }"
    )
    assert newest["powerReadings"] == [{"source": "WEBSOCKET"}]
    latest = client.data(
        '{ latestPowerReading(station: "TV-1") { timestamp } stations { name latestReading { timestamp } } }'
    )
    assert latest["latestPowerReading"]["timestamp"] == "2024-01-15T10:30:09.000+00:00"
    assert [s["latestReading"]["timestamp"] for s in latest["stations"]] == [
        "2024-01-15T10:30:09.000+00:00",
        "2024-01-15T10:30:05.500+00:00",
    ]
    buckets = client.data(
        '{ powerReadingBuckets(station: "TV-1", startDate: "2024-01-15T10:30:00Z", endDate: "2024-01-15T10:31:00Z", '
        "intervalSeconds: 5) { start activePower1 { avg min max count } muxPower4 { max } } }"
    )["powerReadingBuckets"]
    assert buckets[0] == {
        "start": "2024-01-15T10:30:00.000+00:00",
        "activePower1": {"avg": 1003.0, "min": 1001.0, "max": 1005.0, "count": 5},
        "muxPower4": {"max": 108.0},
    }
    series = client.data(
        '{ station(name: "TV-1") { series(startDate: "2024-01-15T10:30:00Z", endDate: "2024-01-15T10:31:00Z") '
        "{ field name columns { timestamps values } } } }"
    )["station"]["series"]
    assert [s["field"] for s in series][:2] == ["activePower1", "activePower2"] and series[6]["name"] == "TV5"
    assert series[0]["columns"]["values"] == [1001.0 + s for s in range(10)]
    assert len(series[0]["columns"]["timestamps"]) == 10


def test_monitored_station_feeds_readings_into_the_api(client: GraphQLClient) -> None:
    simulator = StationSimulator(["LIVE-1"], rate_hz=200, max_readings=40)
    client.run(simulator.start)  # on the app's event loop, like the monitor
    try:
        create(client, "LIVE-1", websocketUrl=simulator.url("LIVE-1"))
        query = '{ powerReadingCount station(name: "LIVE-1") { connection { state received } } stationMonitor { written spooled databaseAvailable enabled } }'
        deadline = time.monotonic() + 20
        while True:
            data = client.data(query)
            # The rows are visible to readers as soon as they commit, the monitor's counter a moment later.
            if data["powerReadingCount"] == 40 and data["stationMonitor"]["written"] == 40:
                break
            assert time.monotonic() < deadline, data
            time.sleep(0.01)
        assert simulator.total_sent == 40
        assert data["station"]["connection"] == {"state": "CONNECTED", "received": 40}
        assert data["stationMonitor"] == {"written": 40, "spooled": 0, "databaseAvailable": True, "enabled": True}
        sources = client.data('{ powerReadings(filter: {stationName: "LIVE-1", limit: 100}) { source } }')
        assert {r["source"] for r in sources["powerReadings"]} == {"WEBSOCKET"}
    finally:
        client.run(simulator.stop)


def test_station_monitor_status_when_the_monitor_is_off(tmp_path: Path, database_url: str) -> None:
    with open_client(station_settings(tmp_path, database_url, station_monitor_enabled=False)) as client:
        status = client.data(
            "{ stationMonitor { enabled databaseAvailable buffered received written duplicates rejected spooled "
            "replayed } }"
        )["stationMonitor"]
    assert status == {
        "enabled": False,
        "databaseAvailable": True,
        "buffered": 0,
        "received": 0,
        "written": 0,
        "duplicates": 0,
        "rejected": 0,
        "spooled": 0,
        "replayed": 0,
    }


def test_a_channel_series_has_each_samples_quality(client: GraphQLClient) -> None:
    """An energy counter going backwards is UNCERTAIN in the channel's quality column (stored so by the station
    service, and found again on read: muxPower channels are kWh counters); power channels stay GOOD."""
    create(client, "TV-1")
    energy = [100.0, 101.0, 102.0, 50.0, 51.0]
    client.data(
        RECORD,
        {"inputs": [reading(f"2024-01-15T10:30:0{s}Z", energy=value) for s, value in enumerate(energy)]},
    )
    series = client.data(
        '{ station(name: "TV-1") { series(startDate: "2024-01-15T10:30:00Z", endDate: "2024-01-15T10:31:00Z") '
        "{ field columns { values quality } } } }"
    )["station"]["series"]
    by_field = {channel["field"]: channel["columns"] for channel in series}
    assert by_field["muxPower1"]["values"] == [value + 1 for value in energy]
    assert by_field["muxPower1"]["quality"] == ["GOOD", "GOOD", "GOOD", "UNCERTAIN", "GOOD"]
    assert by_field["activePower1"]["quality"] == ["GOOD"] * 5
