"""Object identification (t3000gql/api/ids.py, nodes.py): `id: ID!` on every object with an identity, the same
wherever an object is reached and whichever database or process serves it, and `node(id:)` for each type.

Apollo's and urql's normalized caches key objects on `__typename` + `id`. Without an id, Apollo kept a point
inside whatever field returned it, so a second query of the same point with another selection replaced the first
one's data ("Cache data may be lost when replacing the point field"). The first test is that cause, at the
protocol level: two queries, one object, one id.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from t3000gql.api.nodes import FINDERS
from t3000gql.config import Settings
from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.storage.store import Store
from tests.api.conftest import GraphQLClient, open_client, seed, seed_file
from tests.postgres import NewDatabase

READING_TS = "2025-01-01T00:00:00.000+00:00"
READING_MS = 1_735_689_600_000
SUPPLY = "deviceId: 1001, pointType: INPUT, pointNumber: 1"
RANGE = 'start: "2024-12-31T00:00:00Z", end: "2025-01-01T00:00:00Z"'
NODE = """query ($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Device { deviceId deviceName }
    ... on MonitoringPoint { deviceId pointType pointNumber pointName }
    ... on TrendLog { trendLogId trendLogName }
    ... on Station { deviceId name }
    ... on PowerReading { timestamp activePower1 station { name } }
  }
}"""


def gid(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def add_station(client: GraphQLClient) -> dict[str, Any]:
    station: dict[str, Any] = client.data('mutation { createStation(input: {name: "S1"}) { id deviceId } }')[
        "createStation"
    ]
    client.data(
        'mutation { recordPowerReading(input: {station: "S1", timestamp: "2025-01-01T00:00:00Z", activePower1: 5})'
        " { count } }"
    )
    return station


def test_one_object_reached_by_two_queries_carries_one_id(client: GraphQLClient) -> None:
    with_history = client.data(f"{{ point({SUPPLY}) {{ __typename id history({RANGE}) {{ totalPoints }} }} }}")
    with_name = client.data(f"{{ point({SUPPLY}) {{ __typename id pointName }} }}")
    point_id = with_history["point"]["id"]
    assert with_history["point"]["__typename"] == with_name["point"]["__typename"] == "MonitoringPoint"
    assert with_name["point"]["id"] == point_id == gid("MonitoringPoint:1001:INPUT:1")

    elsewhere = client.data(
        f"""{{
          device(deviceId: 1001) {{ id points(pointType: INPUT) {{ id pointNumber }} }}
          devices {{ id deviceId }}
          monitoringPoints(deviceId: 1001) {{ id pointType pointNumber }}
          trendLogs(deviceId: 1001) {{ id trendLogId device {{ id }} points {{ id pointNumber }} }}
          series(points: [{{{SUPPLY}}}], {RANGE}) {{ point {{ id device {{ id }} }} }}
          timeseries({SUPPLY}, startTime: "2024-12-31T00:00:00Z", endTime: "2025-01-01T00:00:00Z") {{
            point {{ id }}
          }}
          device2: device(deviceId: 1001) {{ data {{ points {{ point {{ id pointType pointNumber }} }} }} }}
        }}"""
    )
    device_id = gid("Device:1001")
    assert elsewhere["device"]["id"] == device_id
    assert [d["id"] for d in elsewhere["devices"] if d["deviceId"] == 1001] == [device_id]
    assert (
        elsewhere["trendLogs"][0]["device"]["id"] == elsewhere["series"][0]["point"]["device"]["id"] == device_id
    )
    reached = [
        next(p["id"] for p in elsewhere["device"]["points"] if p["pointNumber"] == 1),
        next(p["id"] for p in elsewhere["monitoringPoints"] if (p["pointType"], p["pointNumber"]) == ("INPUT", 1)),
        next(p["id"] for p in elsewhere["trendLogs"][0]["points"] if p["pointNumber"] == 1),
        elsewhere["series"][0]["point"]["id"],
        elsewhere["timeseries"]["point"]["id"],
    ]
    assert reached == [point_id] * 5
    log = elsewhere["trendLogs"][0]
    assert log["id"] == gid(f"TrendLog:{log['trendLogId']}")
    cached_values = [value["point"]["id"] for value in elsewhere["device2"]["data"]["points"]]
    assert gid("MonitoringPoint:1001:OUTPUT:1") in cached_values


def test_ids_are_unique_across_types(client: GraphQLClient) -> None:
    station = add_station(client)
    assert station["id"] == gid(f"Station:{station['deviceId']}")
    data = client.data(
        """{
          stations { id device { id } latestReading { id station { id } } }
          latestPowerReading(station: "S1") { id timestamp }
          powerReadings(filter: {stationName: "S1"}) { id }
        }"""
    )
    listed = data["stations"][0]
    assert listed["id"] == station["id"] != listed["device"]["id"] == gid(f"Device:{station['deviceId']}")
    reading_id = gid(f"PowerReading:{station['deviceId']}:{READING_MS}")
    assert listed["latestReading"] == {"id": reading_id, "station": {"id": station["id"]}}
    assert data["latestPowerReading"] == {"id": reading_id, "timestamp": READING_TS}
    assert data["powerReadings"] == [{"id": reading_id}]


def _seed_points_backwards(store: Store) -> Any:
    async def run() -> None:
        await store.devices.upsert(DeviceInput(1001, device_name="AHU-1", device_type="T3-BB"))
        await store.points.upsert(1001, [PointInput(PointType.VARIABLE, 9), PointInput(PointType.OUTPUT, 1)])
        await seed(store)

    return run()


def test_ids_come_from_external_keys_so_two_databases_agree(new_database_url: NewDatabase) -> None:
    """The second database got its points in another order, so its internal point ids differ; the ids do not."""
    answers = []
    internal = []
    for name, seeder in (("a", seed), ("b", _seed_points_backwards)):
        settings = Settings.defaults(database_url=new_database_url(name), partition_cleanup_enabled=False)
        seed_file(settings, seeder)
        with open_client(settings) as client:
            answers.append(client.data("{ device(deviceId: 1001) { id points { id pointType pointNumber } } }"))
            record = client.run(client.services.store.points.get, PointRef(1001, PointType.OUTPUT, 1))
            internal.append(record.id)
    assert internal[0] != internal[1]
    first, second = (answer["device"] for answer in answers)
    assert first["id"] == second["id"]
    assert {p["id"] for p in first["points"]} <= {p["id"] for p in second["points"]}


def test_node_finds_each_type_by_its_id(client: GraphQLClient) -> None:
    station = add_station(client)
    log_id = client.data("{ trendLogs(deviceId: 1001) { trendLogId } }")["trendLogs"][0]["trendLogId"]
    expected = {
        gid("Device:1001"): {"__typename": "Device", "deviceId": 1001, "deviceName": "AHU-1"},
        gid("MonitoringPoint:1001:INPUT:2"): {
            "__typename": "MonitoringPoint",
            "deviceId": 1001,
            "pointType": "INPUT",
            "pointNumber": 2,
            "pointName": "Return air",
        },
        gid(f"TrendLog:{log_id}"): {"__typename": "TrendLog", "trendLogId": log_id, "trendLogName": "AHU temps"},
        station["id"]: {"__typename": "Station", "deviceId": station["deviceId"], "name": "S1"},
        gid(f"PowerReading:{station['deviceId']}:{READING_MS}"): {
            "__typename": "PowerReading",
            "timestamp": READING_TS,
            "activePower1": 5.0,
            "station": {"name": "S1"},
        },
    }
    for node_id, fields in expected.items():
        assert client.data(NODE, {"id": node_id}) == {"node": {"id": node_id, **fields}}
    found = {fields["__typename"] for fields in expected.values()}
    possible = client.data('{ __type(name: "Node") { possibleTypes { name } } }')["__type"]["possibleTypes"]
    assert found == {t["name"] for t in possible} == set(FINDERS)


def test_several_nodes_in_one_request(client: GraphQLClient) -> None:
    data = client.data(
        f"""{{
          a: node(id: "{gid("Device:1001")}") {{ ... on Device {{ deviceName }} }}
          b: node(id: "{gid("Device:1002")}") {{ ... on Device {{ deviceName }} }}
          c: node(id: "{gid("MonitoringPoint:1001:INPUT:1")}") {{ ... on MonitoringPoint {{ pointName }} }}
          d: node(id: "{gid("MonitoringPoint:1001:OUTPUT:1")}") {{ ... on MonitoringPoint {{ pointName }} }}
        }}"""
    )
    assert data == {
        "a": {"deviceName": "AHU-1"},
        "b": {"deviceName": "Boiler"},
        "c": {"pointName": "Supply air"},
        "d": {"pointName": "Fan"},
    }


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("not an id!", "is not an id of this server"),
        ("RGV2aWNlOjEwMDE", "is not an id of this server"),  # "Device:1001" without its padding
        (gid("Device"), "decodes to 'Device', which is not an id of this server"),
        (gid("Gadget:1"), "names type 'Gadget', which has no ids; ids are of Device, MonitoringPoint, TrendLog"),
        (gid("CacheStats:1"), "names type 'CacheStats', which has no ids"),
        (gid("Device:abc"), 'expected "Device:<deviceId>"'),
        (gid("Device:01001"), 'expected "Device:<deviceId>"'),
        (gid("Device:99999999999999999999"), 'expected "Device:<deviceId>"'),
        (gid("MonitoringPoint:1001:INPUT"), 'expected "MonitoringPoint:<deviceId>:<pointType>:<pointNumber>"'),
        (gid("MonitoringPoint:1001:SENSOR:1"), 'expected "MonitoringPoint:<deviceId>:<pointType>:<pointNumber>"'),
        (gid("TrendLog:"), 'expected "TrendLog:<trendLogId>"'),
        (gid("PowerReading:4000000"), 'expected "PowerReading:<station deviceId>:<epoch ms>"'),
    ],
)
def test_a_malformed_id_is_bad_user_input_naming_what_is_wrong(
    client: GraphQLClient, given: str, says: str
) -> None:
    error = client.error(NODE, {"id": given})
    assert error["body"]["data"] == {"node": None}
    assert says in error["message"] and error["path"] == ["node"], error
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "id", "value": given}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("Device:9", "device 9 does not exist"),
        ("MonitoringPoint:1001:INPUT:99", "point 1001/INPUT/99 does not exist"),
        ("TrendLog:999", "trend log 999 does not exist"),
        ("Station:1001", "station 1001 does not exist"),
        ("PowerReading:1001:0", "station 1001 does not exist"),
    ],
)
def test_an_unknown_object_is_not_found(client: GraphQLClient, given: str, message: str) -> None:
    error = client.error(NODE, {"id": gid(given)})
    assert error["body"]["data"] == {"node": None}
    assert (error["message"], error["path"], error["extensions"]) == (message, ["node"], {"code": "NOT_FOUND"})


def test_a_reading_the_station_does_not_have_is_not_found(client: GraphQLClient) -> None:
    station = add_station(client)
    error = client.error(NODE, {"id": gid(f"PowerReading:{station['deviceId']}:{READING_MS + 1}")})
    assert error["message"] == f"station 'S1' has no reading at {READING_MS + 1} (epoch ms)"
    assert error["extensions"] == {"code": "NOT_FOUND"}
