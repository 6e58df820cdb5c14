"""Devices through /graphql: list, look up, create, change, delete."""

from __future__ import annotations

from tests.api.conftest import GraphQLClient

DEVICE_FIELDS = (
    "deviceId deviceName deviceType ipAddress port protocol modbusUnitId bacnetInstance options isActive online "
    "lastSeen createdAt updatedAt"
)


def test_devices_lists_every_device_in_id_order(client: GraphQLClient) -> None:
    data = client.data(f"{{ devices {{ {DEVICE_FIELDS} }} }}")
    assert [d["deviceId"] for d in data["devices"]] == [1001, 1002, 2001]
    ahu = data["devices"][0]
    assert ahu == {
        "deviceId": 1001,
        "deviceName": "AHU-1",
        "deviceType": "T3-BB",
        "ipAddress": "192.168.1.10",
        "port": 502,
        "protocol": "NONE",
        "modbusUnitId": 1,
        "bacnetInstance": None,
        "options": {},
        "isActive": True,
        "online": None,
        "lastSeen": None,
        "createdAt": "2025-01-02T00:00:30.000+00:00",
        "updatedAt": "2025-01-02T00:00:30.000+00:00",
    }


def test_devices_filters_by_activity_and_type(client: GraphQLClient) -> None:
    active = client.data("{ devices(isActive: true) { deviceId } }")["devices"]
    assert [d["deviceId"] for d in active] == [1001, 2001]
    inactive = client.data("{ devices(isActive: false) { deviceId } }")["devices"]
    assert [d["deviceId"] for d in inactive] == [1002]
    stations = client.data('{ devices(deviceType: "power_station") { deviceName } }')["devices"]
    assert stations == [{"deviceName": "Main meter"}]


def test_device_by_id_and_unknown_device_is_null_with_not_found(client: GraphQLClient) -> None:
    body = client.post(
        "{ known: device(deviceId: 1002) { deviceName isActive } unknown: device(deviceId: 7) { deviceName } }"
    )
    assert body["data"] == {"known": {"deviceName": "Boiler", "isActive": False}, "unknown": None}
    assert body["errors"] == [
        {
            "message": "device 7 does not exist",
            "locations": [{"line": 1, "column": 57}],
            "path": ["unknown"],
            "extensions": {"code": "NOT_FOUND"},
        }
    ]


def test_upsert_device_creates_then_changes_only_the_fields_given(empty_client: GraphQLClient) -> None:
    created = empty_client.data(
        """mutation { upsertDevice(input: {deviceId: 42, deviceName: "VAV-3", deviceType: "T3-LB",
        ipAddress: "10.0.0.3", port: 502, protocol: MODBUS, options: {registers: [1, 2]}}) {
        deviceId deviceName ipAddress port protocol options isActive createdAt } }"""
    )["upsertDevice"]
    assert created == {
        "deviceId": 42,
        "deviceName": "VAV-3",
        "ipAddress": "10.0.0.3",
        "port": 502,
        "protocol": "MODBUS",
        "options": {"registers": [1, 2]},
        "isActive": True,
        "createdAt": "2025-01-02T00:00:30.000+00:00",
    }
    changed = empty_client.data(
        'mutation { upsertDevice(input: {deviceId: 42, deviceName: "VAV-3b", port: null}) '
        "{ deviceName deviceType ipAddress port } }"
    )["upsertDevice"]
    assert changed == {"deviceName": "VAV-3b", "deviceType": "T3-LB", "ipAddress": "10.0.0.3", "port": None}


def test_upsert_device_refuses_bad_input_naming_the_field_and_writes_nothing(empty_client: GraphQLClient) -> None:
    error = empty_client.error('mutation { upsertDevice(input: {deviceId: 5, deviceName: "x"}) { deviceId } }')
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "deviceType"}
    assert "required to create a device" in error["message"]

    error = empty_client.error(
        'mutation { upsertDevice(input: {deviceId: 5, deviceName: "x", deviceType: "T3", port: 70000}) { deviceId } }'
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "port", "value": 70000}
    assert error["message"] == "field 'port': must be an integer from 1 to 65535"

    error = empty_client.error(
        'mutation { upsertDevice(input: {deviceId: 5, deviceName: "x", deviceType: "T3", isActive: null}) '
        "{ deviceId } }"
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "isActive"}
    assert "must not be null" in error["message"]
    assert empty_client.data("{ devices { deviceId } }") == {"devices": []}


def test_delete_device_removes_it_with_its_points_and_says_whether_it_existed(client: GraphQLClient) -> None:
    assert client.data("mutation { deleteDevice(deviceId: 1001) }") == {"deleteDevice": True}
    assert client.data("mutation { deleteDevice(deviceId: 1001) }") == {"deleteDevice": False}
    error = client.error("{ monitoringPoints(deviceId: 1001) { pointNumber } }")
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert client.data("{ cacheStats { totalPoints } }") == {"cacheStats": {"totalPoints": 0}}


def test_a_failing_mutation_does_not_stop_the_next_one(empty_client: GraphQLClient) -> None:
    body = empty_client.post(
        """mutation {
            bad: upsertDevice(input: {deviceId: 1, deviceName: "x"}) { deviceId }
            good: upsertDevice(input: {deviceId: 2, deviceName: "y", deviceType: "T3"}) { deviceId }
        }"""
    )
    assert body["data"] == {"bad": None, "good": {"deviceId": 2}}
    assert [error["path"] for error in body["errors"]] == [["bad"]]
