"""Points and current values through /graphql: look up, define, delete, write current values, cache reads."""

from __future__ import annotations

from tests.api.conftest import NOW, GraphQLClient

POINT = "{ point(deviceId: 1001, pointType: INPUT, pointNumber: 1) { %s } }"


def test_point_has_its_metadata_and_its_device(client: GraphQLClient) -> None:
    point = client.data(
        POINT % "deviceId pointType pointNumber pointName description unitCode unitSymbol dataType isActive "
        "device { deviceName }"
    )["point"]
    assert point == {
        "deviceId": 1001,
        "pointType": "INPUT",
        "pointNumber": 1,
        "pointName": "Supply air",
        "description": None,
        "unitCode": 1,
        "unitSymbol": "degC",
        "dataType": "REAL",
        "isActive": True,
        "device": {"deviceName": "AHU-1"},
    }


def test_unknown_point_is_null_with_not_found(client: GraphQLClient) -> None:
    error = client.error("{ point(deviceId: 1001, pointType: PROGRAM, pointNumber: 3) { pointName } }")
    assert error["message"] == "point 1001/PROGRAM/3 does not exist"
    assert error["extensions"] == {"code": "NOT_FOUND"}
    assert error["body"]["data"] == {"point": None}


def test_monitoring_points_lists_a_device_by_type_and_number(client: GraphQLClient) -> None:
    points = client.data("{ monitoringPoints(deviceId: 1001) { pointType pointNumber } }")["monitoringPoints"]
    assert points == [
        {"pointType": "OUTPUT", "pointNumber": 1},
        {"pointType": "INPUT", "pointNumber": 1},
        {"pointType": "INPUT", "pointNumber": 2},
        {"pointType": "VARIABLE", "pointNumber": 1},
    ]
    assert client.data("{ monitoringPoints(deviceId: 1002) { pointNumber } }") == {"monitoringPoints": []}


def test_device_points_filter_by_type_and_activity_and_point_by_key(client: GraphQLClient) -> None:
    device = client.data(
        """{ device(deviceId: 1001) {
            inputs: points(pointType: INPUT) { pointNumber }
            inactive: points(isActive: false) { pointName }
            point(pointType: OUTPUT, pointNumber: 1) { pointName dataType unitSymbol }
        } }"""
    )["device"]
    assert device == {
        "inputs": [{"pointNumber": 1}, {"pointNumber": 2}],
        "inactive": [{"pointName": "Setpoint"}],
        "point": {"pointName": "Fan", "dataType": "BOOLEAN", "unitSymbol": "OFF/ON"},
    }


def test_current_is_the_cached_value_marked_fresh_or_stale(client: GraphQLClient) -> None:
    device = client.data(
        "{ device(deviceId: 1001) { points { pointType pointNumber current { value timestamp stale source } } } }"
    )["device"]
    current = {(p["pointType"], p["pointNumber"]): p["current"] for p in device["points"]}
    assert current[("VARIABLE", 1)] == {
        "value": 21.0,
        "timestamp": "2025-01-02T00:00:20.000+00:00",
        "stale": False,
        "source": "API",
    }
    assert current[("INPUT", 1)] == {
        "value": 23.5,
        "timestamp": "2025-01-01T23:45:00.000+00:00",
        "stale": True,
        "source": "COLLECTOR",
    }
    stats = client.data("{ cacheStats { totalPoints freshPoints stalePoints cacheHitRate hits misses } }")
    assert stats["cacheStats"] == {
        "totalPoints": 4,
        "freshPoints": 2,
        "stalePoints": 2,
        "cacheHitRate": 0.5,
        "hits": 2,
        "misses": 2,
    }


def test_current_of_a_point_without_value_is_null(client: GraphQLClient) -> None:
    client.data(
        "mutation { upsertMonitoringPoints(deviceId: 1001, points: [{pointType: INPUT, pointNumber: 9}]) { inserted } }"
    )
    assert client.data("{ point(deviceId: 1001, pointType: INPUT, pointNumber: 9) { current { value } } }") == {
        "point": {"current": None}
    }


def test_device_data_is_the_cache_snapshot_with_stats(client: GraphQLClient) -> None:
    data = client.data(
        "{ device(deviceId: 1001) { data { deviceId lastUpdated points { pointType pointNumber value stale "
        "point { pointName } } cacheStats { totalPoints freshPoints stalePoints } } } }"
    )["device"]["data"]
    assert data["deviceId"] == 1001
    assert data["lastUpdated"] == "2025-01-02T00:00:25.000+00:00"
    assert data["points"] == [
        {"pointType": "OUTPUT", "pointNumber": 1, "value": 1.0, "stale": False, "point": {"pointName": "Fan"}},
        {
            "pointType": "INPUT",
            "pointNumber": 1,
            "value": 23.5,
            "stale": True,
            "point": {"pointName": "Supply air"},
        },
        {
            "pointType": "INPUT",
            "pointNumber": 2,
            "value": 18.0,
            "stale": True,
            "point": {"pointName": "Return air"},
        },
        {
            "pointType": "VARIABLE",
            "pointNumber": 1,
            "value": 21.0,
            "stale": False,
            "point": {"pointName": "Setpoint"},
        },
    ]
    assert data["cacheStats"] == {"totalPoints": 4, "freshPoints": 2, "stalePoints": 2}
    empty = client.data("{ device(deviceId: 1002) { data { points { value } lastUpdated } } }")["device"]["data"]
    assert empty == {"points": [], "lastUpdated": None}


def test_upsert_monitoring_points_counts_and_returns_points_in_order(client: GraphQLClient) -> None:
    result = client.data(
        """mutation { upsertMonitoringPoints(deviceId: 1001, points: [
            {pointType: VARIABLE, pointNumber: 2, pointName: "Mode", dataType: INTEGER},
            {pointType: INPUT, pointNumber: 1, description: "after the coil", unitCode: 2}
        ]) { inserted updated points { pointType pointNumber pointName description unitSymbol dataType } } }"""
    )["upsertMonitoringPoints"]
    assert result == {
        "inserted": 1,
        "updated": 1,
        "points": [
            {
                "pointType": "VARIABLE",
                "pointNumber": 2,
                "pointName": "Mode",
                "description": None,
                "unitSymbol": None,
                "dataType": "INTEGER",
            },
            {
                "pointType": "INPUT",
                "pointNumber": 1,
                "pointName": "Supply air",
                "description": "after the coil",
                "unitSymbol": "degF",
                "dataType": "REAL",
            },
        ],
    }


def test_upsert_monitoring_points_is_all_or_nothing(client: GraphQLClient) -> None:
    error = client.error(
        """mutation { upsertMonitoringPoints(deviceId: 1001, points: [
            {pointType: VARIABLE, pointNumber: 5}, {pointType: VARIABLE, pointNumber: 0}
        ]) { inserted } }"""
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "pointNumber", "index": 1, "value": 0}
    assert error["message"] == "item 1, field 'pointNumber': must be an integer from 1 to 65535"
    assert client.post("{ point(deviceId: 1001, pointType: VARIABLE, pointNumber: 5) { pointName } }")["data"] == {
        "point": None
    }
    error = client.error(
        "mutation { upsertMonitoringPoints(deviceId: 77, points: [{pointType: INPUT, pointNumber: 1}]) { inserted } }"
    )
    assert error["extensions"] == {"code": "NOT_FOUND"}


def test_delete_monitoring_point(client: GraphQLClient) -> None:
    delete = "mutation { deleteMonitoringPoint(deviceId: 1001, pointType: INPUT, pointNumber: 2) }"
    assert client.data(delete) == {"deleteMonitoringPoint": True}
    assert client.data(delete) == {"deleteMonitoringPoint": False}
    points = client.data("{ monitoringPoints(deviceId: 1001) { pointNumber pointType } }")["monitoringPoints"]
    assert {"pointType": "INPUT", "pointNumber": 2} not in points


def test_update_device_data_writes_through_the_write_path(client: GraphQLClient) -> None:
    result = client.data(
        """mutation { updateDeviceData(deviceId: 1001, values: [
            {pointType: INPUT, pointNumber: 1, value: 24.25},
            {pointType: VARIABLE, pointNumber: 1, value: 21.0, timestamp: "2025-01-02T00:00:20Z"},
            {pointType: INPUT, pointNumber: 2, value: 17.5, timestamp: "2025-01-02T00:00:00Z"}
        ]) { inserted updated unchanged } }"""
    )
    assert result == {"updateDeviceData": {"inserted": 2, "updated": 0, "unchanged": 1}}
    current = client.data(POINT % "current { value timestamp stale source }")["point"]["current"]
    assert current == {
        "value": 24.25,
        "timestamp": "2025-01-02T00:00:30.000+00:00",
        "stale": False,
        "source": "API",
    }
    history = client.data(
        POINT % f"history(start: {NOW // 1000}, end: {NOW // 1000 + 1}) {{ columns {{ timestamps values }} }}"
    )["point"]["history"]["columns"]
    assert history == {"timestamps": [NOW], "values": [24.25]}
    entries = client.run(client.services.store.audit.recent)
    assert [(e.operation, e.point_type, e.point_number, e.old_value, e.new_value) for e in entries] == [
        ("update_device_data", 1, 1, 23.5, 24.25),
        ("update_device_data", 1, 2, 18.0, 17.5),
    ][::-1]


def test_update_device_data_of_an_unknown_device_or_point(client: GraphQLClient) -> None:
    error = client.error("mutation { updateDeviceData(deviceId: 5, values: []) { inserted } }")
    assert error["extensions"] == {"code": "NOT_FOUND"}
    error = client.error(
        """mutation { updateDeviceData(deviceId: 1001, values: [
            {pointType: INPUT, pointNumber: 1, value: 1}, {pointType: INPUT, pointNumber: 64, value: 2}
        ]) { inserted } }"""
    )
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "point",
        "index": 1,
        "value": "1001/INPUT/64",
    }
    assert client.data(POINT % "current { value }")["point"]["current"] == {"value": 23.5}


def test_a_remembered_point_is_read_without_sql_and_follows_changes(client: GraphQLClient) -> None:
    query = POINT % "pointName current { value }"
    assert client.data(query)["point"]["pointName"] == "Supply air"
    db = client.services.store.db
    before = db.statements
    assert client.data(query)["point"] == {"pointName": "Supply air", "current": {"value": 23.5}}
    assert db.statements == before
    client.data(
        'mutation { upsertMonitoringPoints(deviceId: 1001, points: [{pointType: INPUT, pointNumber: 1, pointName: "SAT"}]) '
        "{ updated } }"
    )
    assert client.data(query)["point"]["pointName"] == "SAT"
    client.data("mutation { deleteMonitoringPoint(deviceId: 1001, pointType: INPUT, pointNumber: 1) }")
    assert client.error(query)["extensions"] == {"code": "NOT_FOUND"}
    other = "{ point(deviceId: 1001, pointType: INPUT, pointNumber: 2) { pointName } }"
    assert client.data(other)["point"] == {"pointName": "Return air"}
    client.data("mutation { deleteDevice(deviceId: 1001) }")
    assert client.error(other)["extensions"] == {"code": "NOT_FOUND"}
