"""A station renamed (or one of its channels) through any route reads back the same through every other route.

A station is a device with ten channel points, so its name and channel names can be changed by station
mutations and by device and point mutations alike. Each table has one owner that keeps its in-memory records
(the device repository's records, the point directory, the station service's stations) true; these tests
rename through each route, after every read route has been used once (so records are held in memory), and
then read through each route in a request of its own (so no read refreshes what another one reads).

The import (`import-logs --create-stations`) only creates stations, never renames them: nothing to test here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from station_sim import StationSimulator

from tests.api.conftest import GraphQLClient, open_client
from tests.stations.station_helpers import station_settings

T0 = "2025-01-01T00:00:00Z"
RANGE = 'start: "2024-12-31T00:00:00Z", end: "2025-01-02T00:00:00Z"'
CREATE = "mutation ($input: StationInput!) { createStation(input: $input) { deviceId } }"
RECORD = "mutation ($inputs: [PowerReadingInput!]!) { recordPowerReadings(inputs: $inputs) { imported } }"


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> Iterator[GraphQLClient]:
    with open_client(station_settings(tmp_path, database_url)) as client:
        yield client


def station(client: GraphQLClient, name: str) -> int:
    device_id: int = client.data(CREATE, {"input": {"name": name}})["createStation"]["deviceId"]
    client.data(RECORD, {"inputs": [{"station": name, "timestamp": T0, "activePower1": 1.0, "muxPower1": 2.0}]})
    return device_id


def read_back(client: GraphQLClient, device_id: int, name: str) -> dict[str, Any]:
    """The station's name and its muxPower1 channel's name as each read route reports them (keys "name: route"
    and "channel: route"), one request per route.

    `name` is the name the caller expects: the routes that look a station up by name are asked with it (and
    report that name when they found the station, else None or the error)."""

    def of_device(selection: str) -> Any:
        return client.data(f"query ($id: Int!) {{ {selection} }}", {"id": device_id})

    def by_name(selection: str) -> Any:
        return client.post(f"query ($name: String!) {{ {selection} }}", {"name": name})

    def mux1(points: list[dict[str, Any]]) -> str:
        return next(p["pointName"] for p in points if (p["pointType"], p["pointNumber"]) == ("VARIABLE", 1))

    names: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    device = of_device(
        "device(deviceId: $id) { deviceName point(pointType: VARIABLE, pointNumber: 1) { pointName } "
        "points { pointType pointNumber pointName } }"
    )["device"]
    names["device"] = device["deviceName"]
    channels["device.point"] = device["point"]["pointName"]
    channels["device.points"] = mux1(device["points"])
    point = of_device("point(deviceId: $id, pointType: VARIABLE, pointNumber: 1) { pointName }")["point"]
    channels["point"] = point["pointName"]
    series = of_device(
        f"series(points: [{{deviceId: $id, pointType: VARIABLE, pointNumber: 1}}], {RANGE}) "
        "{ point { pointName device { deviceName } } }"
    )["series"][0]["point"]
    channels["series.point"] = series["pointName"]
    names["series.point.device"] = series["device"]["deviceName"]
    by_id = of_device("station(deviceId: $id) { name device { deviceName } channels { field name } }")["station"]
    names["station"] = by_id["name"]
    names["station.device"] = by_id["device"]["deviceName"]
    channels["station.channels"] = by_id["channels"][6]["name"]
    found = by_name("station(name: $name) { deviceId }")["data"]["station"]
    names["station(name)"] = name if found == {"deviceId": device_id} else None
    names["stations"] = [s["name"] for s in client.data("{ stations { name } }")["stations"]]
    listed = client.data('{ devices(deviceType: "power_station") { deviceName } }')["devices"]
    names["devices"] = [d["deviceName"] for d in listed]
    channels["monitoringPoints"] = mux1(
        of_device("monitoringPoints(deviceId: $id) { pointType pointNumber pointName }")["monitoringPoints"]
    )
    latest = of_device("latestPowerReading(stationId: $id) { station { name channels { name } } }")
    names["latestPowerReading"] = latest["latestPowerReading"]["station"]["name"]
    channels["latestPowerReading"] = latest["latestPowerReading"]["station"]["channels"][6]["name"]
    readings = by_name("powerReadings(filter: {stationName: $name}) { timestamp }")["data"]["powerReadings"]
    names["powerReadings(stationName)"] = name if readings else None
    recorded = client.post(RECORD, {"inputs": [{"station": name, "timestamp": T0, "activePower1": 1.0}]})
    names["recordPowerReadings(station)"] = recorded["errors"][0]["message"] if "errors" in recorded else name
    return {**{f"name: {k}": v for k, v in names.items()}, **{f"channel: {k}": v for k, v in channels.items()}}


def expected(name: str, channel: str, found: dict[str, Any]) -> dict[str, Any]:
    """Every route reporting `name` and `channel` (the lists: only that station)."""
    return {
        key: ([name] if isinstance(value, list) else name) if key.startswith("name:") else channel
        for key, value in found.items()
    }


Rename = Callable[[GraphQLClient, int], None]


def by_station_mutation(client: GraphQLClient, device_id: int) -> None:
    client.data(
        'mutation ($id: Int!) { upsertStation(input: {deviceId: $id, name: "TV-2", '
        'channelNames: [{field: muxPower1, name: "TV5 HD"}]}) { name } }',
        {"id": device_id},
    )


def by_device_and_point_mutations(client: GraphQLClient, device_id: int) -> None:
    client.data(
        'mutation ($id: Int!) { upsertDevice(input: {deviceId: $id, deviceName: "TV-2"}) { deviceName } }',
        {"id": device_id},
    )
    client.data(
        "mutation ($id: Int!) { upsertMonitoringPoints(deviceId: $id, points: "
        '[{pointType: VARIABLE, pointNumber: 1, pointName: "TV5 HD"}]) { updated } }',
        {"id": device_id},
    )


@pytest.mark.parametrize("rename", [by_station_mutation, by_device_and_point_mutations])
def test_a_rename_reads_back_the_same_through_every_route(client: GraphQLClient, rename: Rename) -> None:
    device_id = station(client, "TV-1")
    before = read_back(client, device_id, "TV-1")  # every route used once: records are held in memory
    assert before == expected("TV-1", "TV5", before)
    rename(client, device_id)
    after = read_back(client, device_id, "TV-2")
    assert after == expected("TV-2", "TV5 HD", after)
    old_name = client.error(RECORD, {"inputs": [{"station": "TV-1", "timestamp": T0, "activePower1": 1.0}]})
    assert (old_name["extensions"]["field"], old_name["message"]) == (
        "station",
        "item 0, field 'station': is not a known station",
    )
    assert client.post('{ station(name: "TV-1") { name } }')["data"]["station"] is None


def test_renaming_a_device_to_another_stations_name_is_refused_and_changes_nothing(client: GraphQLClient) -> None:
    first, second = station(client, "TV-1"), station(client, "TV-2")
    read_back(client, first, "TV-1")
    error = client.error(
        'mutation ($id: Int!) { upsertDevice(input: {deviceId: $id, deviceName: "TV-2"}) { deviceName } }',
        {"id": first},
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == f"another station (device {second}) already has name 'TV-2'"
    after = read_back(client, first, "TV-1")
    both = ["TV-1", "TV-2"]
    assert after == {**expected("TV-1", "TV5", after), "name: stations": both, "name: devices": both}


def test_a_refused_station_change_leaves_every_record_as_it_was(client: GraphQLClient) -> None:
    device_id = station(client, "TV-1")
    read_back(client, device_id, "TV-1")
    error = client.error(
        'mutation ($id: Int!) { upsertStation(input: {deviceId: $id, name: "TV-2", ipAddress: "not an address!", '
        'channelNames: [{field: muxPower1, name: "TV5 HD"}]}) { name } }',
        {"id": device_id},
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "ipAddress", "value": "not an address!"}
    after = read_back(client, device_id, "TV-1")
    assert after == expected("TV-1", "TV5", after)


def test_a_station_deleted_as_a_device_is_gone_for_readings_too(client: GraphQLClient) -> None:
    device_id = station(client, "TV-1")
    assert client.data("mutation ($id: Int!) { deleteDevice(deviceId: $id) }", {"id": device_id})["deleteDevice"]
    assert client.data("{ stations { name } }")["stations"] == []
    error = client.error(RECORD, {"inputs": [{"station": "TV-1", "timestamp": T0, "activePower1": 1.0}]})
    assert error["message"] == "item 0, field 'station': is not a known station"


def test_the_monitor_stops_following_a_station_deleted_as_a_device(client: GraphQLClient) -> None:
    simulator = StationSimulator(["LIVE-1"], rate_hz=50)
    client.run(simulator.start)  # on the app's event loop, like the monitor
    try:
        created = client.data(CREATE, {"input": {"name": "LIVE-1", "websocketUrl": simulator.url("LIVE-1")}})
        device_id = created["createStation"]["deviceId"]
        connected_is(client, 1)
        assert client.data("mutation ($id: Int!) { deleteDevice(deviceId: $id) }", {"id": device_id})
        connected_is(client, 0)
    finally:
        client.run(simulator.stop)


def connected_is(client: GraphQLClient, count: int, within: float = 15.0) -> None:
    """Polls /health until the monitor has `count` connected stations (a bound, not a timing assertion)."""
    deadline = time.monotonic() + within
    while (monitor := client.http.get("/health").json()["stationMonitor"])["connected"] != count:
        assert time.monotonic() < deadline, monitor
        time.sleep(0.01)
