"""The audit trail over real HTTP: what each kind of change records (who, when, what, from where, how it ended),
that a refused change records nothing, and auditLog's filters and pages (admins only)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from t3000gql.auth import Role
from t3000gql.config import Settings
from tests.api.conftest import NOW, SUPPLY_SAMPLES, LiveServer, bearer, issue_token

AT = "2025-01-02T00:00:30.000+00:00"
NOW_S = NOW // 1000
ENTRY = "user client operation outcome at deviceId pointType pointNumber oldValue newValue source detail"


@pytest.fixture
def tokens(seeded: Settings) -> dict[Role, str]:
    return {role: issue_token(seeded, role.label, role) for role in (Role.INGEST, Role.ADMIN)}


def run(server: LiveServer, token: str, query: str, **variables: Any) -> dict[str, Any]:
    answer = httpx.post(
        f"{server.url}/graphql", json={"query": query, "variables": variables}, headers=bearer(token), timeout=10
    )
    body: dict[str, Any] = answer.json()
    assert "errors" not in body, body
    return body["data"]


def audit_log(server: LiveServer, token: str, arguments: str = "") -> dict[str, Any]:
    query = f"{{ auditLog{arguments} {{ entries {{ id {ENTRY} }} hasMore nextCursor }} }}"
    page: dict[str, Any] = run(server, token, query)["auditLog"]
    return page


def without_id(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key != "id"}


@pytest.mark.settings(auth_required="true")
def test_each_change_records_who_when_what_from_where_and_how_it_ended(
    tokens: dict[Role, str], live_server: LiveServer
) -> None:
    ingest, admin = tokens[Role.INGEST], tokens[Role.ADMIN]
    run(
        live_server,
        ingest,
        "mutation { updateDeviceData(deviceId: 1001, values: [{pointType: INPUT, pointNumber: 2, value: 17.5}]) "
        "{ inserted } }",
    )
    run(
        live_server,
        ingest,
        "mutation ($t: DateTime!) { storeTimeSeries(samples: ["
        "{deviceId: 1001, pointType: INPUT, pointNumber: 1, value: 1, timestamp: $t}, "
        "{deviceId: 1001, pointType: INPUT, pointNumber: 2, value: 2, timestamp: $t}]) { inserted } }",
        t=NOW_S - 60,
    )
    run(
        live_server,
        admin,
        'mutation { upsertDevice(input: {deviceId: 1002, deviceName: "Boiler 2"}) { deviceId } }',
    )
    run(
        live_server,
        admin,
        "mutation { upsertMonitoringPoints(deviceId: 1001, points: "
        '[{pointType: VARIABLE, pointNumber: 9, pointName: "Limit", minValue: 5, maxValue: 30}]) { inserted } }',
    )
    run(live_server, admin, "mutation { deleteDevice(deviceId: 1001) }")

    entries = [without_id(entry) for entry in audit_log(live_server, admin, "(limit: 10)")["entries"]]
    by_operation = {entry["operation"]: entry for entry in entries}
    assert [entry["operation"] for entry in entries] == [
        "delete_device",
        "create_point",
        "update_device",
        "store_time_series",
        "update_device_data",
        "create_token",
        "create_token",
    ]  # newest first; the seed wrote through the store directly, without the registry
    assert by_operation["update_device_data"] == {
        "user": "ingest",
        "client": "127.0.0.1",
        "operation": "update_device_data",
        "outcome": "DONE",
        "at": AT,
        "deviceId": 1001,
        "pointType": "INPUT",
        "pointNumber": 2,
        "oldValue": 18.0,
        "newValue": 17.5,
        "source": "api",
        "detail": {},
    }
    stored = by_operation["store_time_series"]
    assert (stored["user"], stored["deviceId"], stored["pointNumber"]) == ("ingest", 1001, None)
    assert stored["detail"] == {
        "samples": 2,
        "changed": 2,
        "points": 2,
        "first_ts": NOW - 60_000,
        "last_ts": NOW - 60_000,
    }
    renamed = by_operation["update_device"]
    assert (renamed["user"], renamed["deviceId"], renamed["source"]) == ("admin", 1002, "registry")
    assert renamed["detail"] == {"changed": {"device_name": ["Boiler", "Boiler 2"]}}
    created = by_operation["create_point"]["detail"]["created"]
    assert (created["point_name"], created["writable"], created["min_value"], created["max_value"]) == (
        "Limit",
        True,
        5.0,
        30.0,
    )
    deleted = by_operation["delete_device"]
    assert deleted["detail"] == {
        "device_name": "AHU-1",
        "device_type": "T3-BB",
        "points": 5,
        # the seed's history (2 x 192 + 2), the value written above, and the 2 stored samples
        "samples": 2 * SUPPLY_SAMPLES + 2 + 1 + 2,
    }


@pytest.mark.settings(auth_required="true")
def test_a_refused_change_records_nothing(tokens: dict[Role, str], live_server: LiveServer) -> None:
    admin = tokens[Role.ADMIN]
    before = audit_log(live_server, admin)["entries"]
    assert [entry["operation"] for entry in before] == ["create_token", "create_token"]
    for mutation in (
        "mutation { updateDeviceData(deviceId: 1001, values: [{pointType: INPUT, pointNumber: 77, value: 1}]) "
        "{ inserted } }",
        'mutation { upsertDevice(input: {deviceId: 1002, deviceName: ""}) { deviceId } }',
        "mutation { upsertMonitoringPoints(deviceId: 1001, points: [{pointType: VARIABLE, pointNumber: 9, "
        "minValue: 10, maxValue: 1}]) { inserted } }",
        "mutation { deleteDevice(deviceId: 4242) }",
    ):
        answer = httpx.post(f"{live_server.url}/graphql", json={"query": mutation}, headers=bearer(admin)).json()
        assert "errors" in answer or answer["data"] == {"deleteDevice": False}, answer
    assert audit_log(live_server, admin)["entries"] == before


@pytest.mark.settings(auth_required="true")
def test_audit_log_filters_and_pages_newest_first(tokens: dict[Role, str], live_server: LiveServer) -> None:
    ingest, admin = tokens[Role.INGEST], tokens[Role.ADMIN]
    for value in (1.0, 2.0, 3.0):
        run(
            live_server,
            ingest,
            "mutation ($v: Float!) { updateDeviceData(deviceId: 1001, values: "
            "[{pointType: VARIABLE, pointNumber: 1, value: $v}]) { updated } }",
            v=value,
        )
    run(live_server, admin, 'mutation { upsertDevice(input: {deviceId: 1002, deviceName: "B"}) { deviceId } }')

    first = audit_log(live_server, admin, '(user: "ingest", limit: 2)')
    assert [e["newValue"] for e in first["entries"]] == [3.0, 2.0] and first["hasMore"] is True
    second = audit_log(live_server, admin, f'(user: "ingest", limit: 2, after: "{first["nextCursor"]}")')
    assert [e["newValue"] for e in second["entries"]] == [1.0] and second["hasMore"] is False
    assert second["nextCursor"] is None
    assert [e["operation"] for e in audit_log(live_server, admin, "(deviceId: 1002)")["entries"]] == [
        "update_device"
    ]
    by_op = audit_log(live_server, admin, '(operation: "update_device_data")')["entries"]
    assert len(by_op) == 3
    assert audit_log(live_server, admin, f'(since: "{AT}", until: "{AT}")')["entries"] == []
    assert len(audit_log(live_server, admin, f'(since: "{AT}")')["entries"]) == 4 + 2  # and the 2 tokens made
    bad = httpx.post(
        f"{live_server.url}/graphql",
        json={"query": '{ auditLog(after: "bm9wZQ") { hasMore } }'},
        headers=bearer(admin),
    ).json()
    assert bad["errors"][0]["extensions"]["field"] == "after"
    too_many = httpx.post(
        f"{live_server.url}/graphql",
        json={"query": "{ auditLog(limit: 5000) { hasMore } }"},
        headers=bearer(admin),
    ).json()
    assert too_many["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "limit", "value": 5000}
