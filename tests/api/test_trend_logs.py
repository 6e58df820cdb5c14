"""Trend logs through /graphql: list, look up, create and change with points by reference, delete."""

from __future__ import annotations

from tests.api.conftest import GraphQLClient

FIELDS = "trendLogId deviceId trendLogName intervalSeconds maxPoints isActive lastCollected device { deviceName } points { pointType pointNumber }"


def test_trend_logs_of_a_device_with_points_in_slot_order(client: GraphQLClient) -> None:
    logs = client.data(f"{{ trendLogs(deviceId: 1001) {{ {FIELDS} }} }}")["trendLogs"]
    assert logs == [
        {
            "trendLogId": logs[0]["trendLogId"],
            "deviceId": 1001,
            "trendLogName": "AHU temps",
            "intervalSeconds": 900,
            "maxPoints": 1000,
            "isActive": True,
            "lastCollected": None,
            "device": {"deviceName": "AHU-1"},
            "points": [{"pointType": "INPUT", "pointNumber": 1}, {"pointType": "INPUT", "pointNumber": 2}],
        }
    ]
    assert client.data(f"{{ trendLog(trendLogId: {logs[0]['trendLogId']}) {{ trendLogName }} }}") == {
        "trendLog": {"trendLogName": "AHU temps"}
    }
    assert client.data("{ device(deviceId: 1001) { trendLogs { trendLogName } } }") == {
        "device": {"trendLogs": [{"trendLogName": "AHU temps"}]}
    }
    assert client.data("{ trendLogs(deviceId: 1002) { trendLogId } }") == {"trendLogs": []}


def test_unknown_trend_log_or_device(client: GraphQLClient) -> None:
    error = client.error("{ trendLog(trendLogId: 999) { trendLogId } }")
    assert (error["message"], error["extensions"]) == ("trend log 999 does not exist", {"code": "NOT_FOUND"})
    error = client.error("{ trendLogs(deviceId: 5) { trendLogId } }")
    assert (error["message"], error["extensions"]) == ("device 5 does not exist", {"code": "NOT_FOUND"})


def test_upsert_trend_log_creates_then_changes_and_replaces_points(client: GraphQLClient) -> None:
    created = client.data(
        """mutation { upsertTrendLog(deviceId: 1001, input: {trendLogName: "Fan", intervalSeconds: 60,
            points: [{pointType: OUTPUT, pointNumber: 1}, {pointType: VARIABLE, pointNumber: 1}]}) {
            trendLogId trendLogName intervalSeconds maxPoints points { pointName } } }"""
    )["upsertTrendLog"]
    assert created["points"] == [{"pointName": "Fan"}, {"pointName": "Setpoint"}]
    assert (created["intervalSeconds"], created["maxPoints"]) == (60, 1000)
    changed = client.data(
        f"""mutation {{ upsertTrendLog(deviceId: 1001, input: {{trendLogId: {created["trendLogId"]}, isActive: false,
            points: [{{pointType: VARIABLE, pointNumber: 1}}]}}) {{ trendLogId trendLogName isActive intervalSeconds
            points {{ pointName }} }} }}"""
    )["upsertTrendLog"]
    assert changed == {
        "trendLogId": created["trendLogId"],
        "trendLogName": "Fan",
        "isActive": False,
        "intervalSeconds": 60,
        "points": [{"pointName": "Setpoint"}],
    }
    kept = client.data(
        f'mutation {{ upsertTrendLog(deviceId: 1001, input: {{trendLogId: {created["trendLogId"]}, trendLogName: "Fan 2"}}) '
        "{ points { pointName } } }"
    )["upsertTrendLog"]
    assert kept == {"points": [{"pointName": "Setpoint"}]}


def test_upsert_trend_log_refuses_bad_input(client: GraphQLClient) -> None:
    error = client.error(
        """mutation { upsertTrendLog(deviceId: 1001, input: {trendLogName: "x",
            points: [{pointType: INPUT, pointNumber: 1}, {pointType: INPUT, pointNumber: 50}]}) { trendLogId } }"""
    )
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "points",
        "index": 1,
        "value": "1001/INPUT/50",
    }
    error = client.error(
        'mutation { upsertTrendLog(deviceId: 1001, input: {trendLogName: "x", intervalSeconds: 0}) { trendLogId } }'
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "intervalSeconds", "value": 0}
    error = client.error(
        "mutation { upsertTrendLog(deviceId: 1001, input: {intervalSeconds: 60}) { trendLogId } }"
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "trendLogName"}
    error = client.error(
        'mutation { upsertTrendLog(deviceId: 1001, input: {trendLogName: "x", points: null}) { trendLogId } }'
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "points"}
    error = client.error('mutation { upsertTrendLog(deviceId: 9, input: {trendLogName: "x"}) { trendLogId } }')
    assert error["extensions"] == {"code": "NOT_FOUND"}
    assert len(client.data("{ trendLogs(deviceId: 1001) { trendLogId } }")["trendLogs"]) == 1


def test_delete_trend_log_keeps_its_samples(client: GraphQLClient) -> None:
    log_id = client.data("{ trendLogs(deviceId: 1001) { trendLogId } }")["trendLogs"][0]["trendLogId"]
    assert client.data(f"mutation {{ deleteTrendLog(trendLogId: {log_id}) }}") == {"deleteTrendLog": True}
    assert client.data(f"mutation {{ deleteTrendLog(trendLogId: {log_id}) }}") == {"deleteTrendLog": False}
    history = client.data(
        '{ timeseries(deviceId: 1001, pointType: INPUT, pointNumber: 1, startTime: "2024-12-31T00:00:00Z", '
        'endTime: "2025-01-02T00:00:00Z") { totalPoints } }'
    )
    assert history == {"timeseries": {"totalPoints": 192}}
