"""Roles over real HTTP: every role against every mutation (a table), what a forbidden field does (null, FORBIDDEN,
nothing written), tokens at the edge (401 UNAUTHENTICATED), and anonymous access while AUTH_REQUIRED is off."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import build_schema
from strawberry.utils.str_converters import to_camel_case

from t3000gql.api.access import check_every_mutation_declares_a_role, role_of
from t3000gql.api.schema import MUTATIONS, sdl
from t3000gql.auth import Role
from t3000gql.config import Settings
from tests.api.conftest import NOW, LiveServer, bearer, issue_token

NOW_S = NOW // 1000

# One invocation of every mutation, with arguments of the right types: what it is refused or allowed for is the
# point, not whether it then succeeds (deleteDevice of a device that does not exist is still a delete).
MUTATION_CALLS = {
    "upsertDevice": 'upsertDevice(input: {deviceId: 1003, deviceName: "New", deviceType: "T3-BB"}) { deviceId }',
    "deleteDevice": "deleteDevice(deviceId: 4242)",
    "upsertMonitoringPoints": (
        "upsertMonitoringPoints(deviceId: 1001, points: [{pointType: VARIABLE, pointNumber: 9}]) { inserted }"
    ),
    "deleteMonitoringPoint": "deleteMonitoringPoint(deviceId: 1001, pointType: VARIABLE, pointNumber: 99)",
    "updateDeviceData": (
        "updateDeviceData(deviceId: 1001, values: [{pointType: VARIABLE, pointNumber: 1, value: 20}]) { inserted }"
    ),
    "upsertTrendLog": 'upsertTrendLog(deviceId: 1001, input: {trendLogName: "new"}) { trendLogId }',
    "deleteTrendLog": "deleteTrendLog(trendLogId: 4242)",
    "storeTimeSeries": (
        "storeTimeSeries(samples: [{deviceId: 1001, pointType: INPUT, pointNumber: 1, value: 1, "
        f"timestamp: {NOW_S}}}]) {{ inserted }}"
    ),
    "collectNow": "collectNow(trendLogId: 4242) { samples }",
    "refreshPoint": "refreshPoint(deviceId: 1001, pointType: INPUT, pointNumber: 1) { value }",
    "writePointValue": "writePointValue(deviceId: 1001, pointType: OUTPUT, pointNumber: 1, value: 0) { value }",
    "releasePointValue": "releasePointValue(deviceId: 1001, pointType: OUTPUT, pointNumber: 1) { value }",
    "createStation": 'createStation(input: {name: "S9"}) { deviceId }',
    "upsertStation": 'upsertStation(input: {name: "S9"}) { deviceId }',
    "deleteStation": "deleteStation(deviceId: 4242)",
    "recordPowerReading": (
        f'recordPowerReading(input: {{timestamp: {NOW_S}, station: "nowhere", activePower1: 1}}) {{ count }}'
    ),
    "recordPowerReadings": "recordPowerReadings(inputs: []) { count }",
    "createApiToken": 'createApiToken(name: "made-by-test", role: VIEWER) { token }',
    "revokeApiToken": 'revokeApiToken(name: "nobody") { name }',
}
NEEDS = {
    **dict.fromkeys(MUTATION_CALLS, Role.ADMIN),
    **dict.fromkeys(
        ("updateDeviceData", "storeTimeSeries", "recordPowerReading", "recordPowerReadings"), Role.INGEST
    ),
    **dict.fromkeys(("writePointValue", "releasePointValue", "refreshPoint", "collectNow"), Role.OPERATOR),
}
"""The issue's table: ingest pushes data, operator commands hardware, admin does everything else."""
ADMIN_QUERIES = {"auditLog": "auditLog { hasMore }", "apiTokens": "apiTokens { name }"}


def mutation_fields() -> set[str]:
    mutation = build_schema(sdl()).mutation_type
    assert mutation is not None
    return set(mutation.fields)


def test_the_table_covers_every_mutation_and_the_schema_declares_each_role() -> None:
    assert set(MUTATION_CALLS) == mutation_fields()
    declared = {
        to_camel_case(field.python_name): role_of(field)
        for cls in MUTATIONS
        for field in cls.__strawberry_definition__.fields  # type: ignore[attr-defined]
    }
    assert declared == NEEDS


def test_a_mutation_without_a_role_is_refused_when_the_schema_is_built() -> None:
    import strawberry

    @strawberry.type
    class Careless:
        @strawberry.mutation
        def open_door(self) -> bool:
            return True

    with pytest.raises(TypeError, match="openDoor"):
        check_every_mutation_declares_a_role([Careless])


@pytest.fixture
def tokens(seeded: Settings) -> dict[Role, str]:
    """A token of each role in the database the server opens (requested before `live_server`)."""
    return {role: issue_token(seeded, role.label, role) for role in Role}


def post(server: LiveServer, query: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = bearer(token) if token is not None else {}
    return httpx.post(f"{server.url}/graphql", json={"query": query}, headers=headers, timeout=10, **kwargs)


def code_of(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


@pytest.mark.settings(auth_required="true")
@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.label)
def test_every_role_against_every_mutation(tokens: dict[Role, str], live_server: LiveServer, role: Role) -> None:
    for name, call in MUTATION_CALLS.items():
        answer = post(live_server, f"mutation {{ {call} }}", tokens[role])
        assert answer.status_code == 200, (name, answer.text)
        body = answer.json()
        if role >= NEEDS[name]:
            assert code_of(body) != "FORBIDDEN", (name, body)
        else:
            assert body["data"] == {name: None}, (name, body)
            [error] = body["errors"]
            assert error["extensions"] == {"code": "FORBIDDEN"} and error["path"] == [name]
            assert f"{name} needs the {NEEDS[name].label} role" in error["message"]
            assert f"token '{role.label}' ({role.label}) may not" in error["message"]
    for name, field in ADMIN_QUERIES.items():
        body = post(live_server, f"{{ {field} }}", tokens[role]).json()
        assert (code_of(body) == "FORBIDDEN") is (role < Role.ADMIN), (name, body)
    body = post(live_server, "{ devices { deviceId } me { name role } }", tokens[role]).json()
    assert body["data"]["me"] == {"name": role.label, "role": role.name}


@pytest.mark.settings(auth_required="true")
@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, set()),
        (Role.INGEST, {"ingest"}),
        (Role.OPERATOR, {"ingest", "operator"}),
        (Role.ADMIN, {"ingest", "operator", "admin"}),
    ],
    ids=lambda value: value.label if isinstance(value, Role) else None,
)
def test_a_forbidden_field_writes_and_sends_nothing(
    tokens: dict[Role, str], live_server: LiveServer, role: Role, allowed: set[str]
) -> None:
    """One request with a field of each class: the allowed ones run, the others are null and change nothing."""
    body = post(
        live_server,
        "mutation { "
        "ingest: updateDeviceData(deviceId: 1001, values: [{pointType: INPUT, pointNumber: 2, value: 55}]) "
        "{ updated } "
        "operator: writePointValue(deviceId: 1001, pointType: OUTPUT, pointNumber: 1, value: 0) { value } "
        'admin: upsertDevice(input: {deviceId: 1002, deviceName: "Renamed"}) { deviceName } }',
        tokens[role],
    ).json()
    assert {name for name, value in body["data"].items() if value is not None} == allowed
    assert {error["path"][0] for error in body.get("errors", [])} == {"ingest", "operator", "admin"} - allowed
    assert all(error["extensions"]["code"] == "FORBIDDEN" for error in body.get("errors", []))
    state = post(
        live_server,
        "{ a: point(deviceId: 1001, pointType: INPUT, pointNumber: 2) { current { value } } "
        "b: point(deviceId: 1001, pointType: OUTPUT, pointNumber: 1) { current { value } } "
        "c: device(deviceId: 1002) { deviceName } }",
        tokens[Role.VIEWER],
    ).json()["data"]
    assert (state["a"]["current"]["value"] == 55.0) is ("ingest" in allowed)
    assert (state["b"]["current"]["value"] == 0.0) is ("operator" in allowed)
    assert (state["c"]["deviceName"] == "Renamed") is ("admin" in allowed)
    audit = post(live_server, "{ auditLog(limit: 1000) { entries { user operation } } }", tokens[Role.ADMIN])
    audited = {(e["user"], e["operation"]) for e in audit.json()["data"]["auditLog"]["entries"]}
    expected = {"ingest": "update_device_data", "operator": "write_point_value", "admin": "update_device"}
    assert {op for user, op in audited if user == role.label} == {expected[name] for name in allowed}


@pytest.mark.settings(auth_required="true")
@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "this server needs an API token"),
        ({"Authorization": "Bearer t3k_not-a-token"}, "the token is not valid"),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "send the token as `Authorization: Bearer TOKEN`"),
        ({"Authorization": "Bearer"}, "send the token as `Authorization: Bearer TOKEN`"),
    ],
)
def test_no_token_or_a_bad_one_is_401_unauthenticated(
    tokens: dict[Role, str], live_server: LiveServer, headers: dict[str, str], reason: str
) -> None:
    for query in ("{ devices { deviceId } }", "mutation { deleteDevice(deviceId: 1001) }"):
        answer = httpx.post(f"{live_server.url}/graphql", json={"query": query}, headers=headers, timeout=10)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        [error] = answer.json()["errors"]
        assert error["extensions"] == {"code": "UNAUTHENTICATED"} and reason in error["message"]
    assert httpx.get(f"{live_server.url}/metrics", headers=headers, timeout=10).status_code == 401
    still = post(live_server, "{ device(deviceId: 1001) { deviceName } }", tokens[Role.VIEWER]).json()
    assert still["data"]["device"] == {"deviceName": "AHU-1"}  # the unauthenticated delete did nothing


@pytest.mark.settings(auth_required="true")
def test_graphiql_loads_without_a_token_and_its_operations_need_one(
    tokens: dict[Role, str], live_server: LiveServer
) -> None:
    page = httpx.get(f"{live_server.url}/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    by_get = httpx.get(
        f"{live_server.url}/graphql", params={"query": "{ devices { deviceId } }"}, headers={"Accept": "text/html"}
    )
    assert by_get.status_code == 401


def test_without_auth_required_no_token_is_anonymous_with_every_right_and_a_bad_token_is_still_refused(
    tokens: dict[Role, str], live_server: LiveServer
) -> None:
    body = post(live_server, "mutation { deleteDevice(deviceId: 1002) }").json()
    assert body == {"data": {"deleteDevice": True}}
    assert post(live_server, "{ me { name role } }").json()["data"]["me"] == {"name": "anonymous", "role": "ADMIN"}
    assert post(live_server, "{ devices { deviceId } }", "t3k_wrong").status_code == 401
    viewer = post(live_server, "mutation { deleteDevice(deviceId: 1001) }", tokens[Role.VIEWER]).json()
    assert code_of(viewer) == "FORBIDDEN"  # a token acts as itself, also when none is required


def test_the_server_refuses_to_start_without_a_token_when_one_is_required(seeded: Settings) -> None:
    from dataclasses import replace

    from t3000gql.errors import ConfigError
    from tests.api.conftest import open_client

    for settings in (replace(seeded, auth_required="true"), replace(seeded, host="0.0.0.0")):
        with pytest.raises(ConfigError, match=r"t3000gql token create --name admin --role admin"):
            with open_client(settings):
                pass
    issue_token(seeded, "ops", Role.OPERATOR)
    with open_client(replace(seeded, host="0.0.0.0", allowed_hosts="127.0.0.1")) as client:
        answer = client.http.post("/graphql", json={"query": "{ devices { deviceId } }"})
        assert answer.status_code == 401  # HOST beyond loopback: a token is required by default


def test_device_errors_name_addresses_to_admins_only(seeded: Settings) -> None:
    """No port scanning through errors: a device at a closed port fails, and only an admin reads why."""
    from dataclasses import replace

    from tests.api.conftest import open_client

    admin = issue_token(seeded, "admin", Role.ADMIN)
    viewer = issue_token(seeded, "viewer", Role.VIEWER)
    settings = replace(seeded, auth_required="true", t3000_interface_timeout_ms=200, t3000_max_retries=0)
    with open_client(settings) as client:
        client.post(
            'mutation { upsertDevice(input: {deviceId: 9, deviceName: "probe", deviceType: "T3-BB", '
            'protocol: MODBUS, ipAddress: "127.0.0.1", port: 1}) { deviceId } '
            "upsertMonitoringPoints(deviceId: 9, points: [{pointType: INPUT, pointNumber: 1}]) { inserted } }",
            headers=bearer(admin),
        )
        query = "{ point(deviceId: 9, pointType: INPUT, pointNumber: 1) { current { value } } }"
        as_admin = client.post(query, headers=bearer(admin))["errors"][0]
        as_viewer = client.post(query, headers=bearer(viewer))["errors"][0]
        assert as_admin["extensions"]["code"] == "DEVICE_TIMEOUT" and "127.0.0.1:1" in as_admin["message"]
        # now skipped as offline (nothing is sent): the viewer hears what that means, not where it was
        assert as_viewer["extensions"]["code"] == "DEVICE_OFFLINE" and "retryAt" in as_viewer["extensions"]
        assert as_viewer["message"].startswith(
            "the device did not answer lately and is not asked again before retryAt"
        )
        again = client.post(query, headers=bearer(admin))["errors"][0]
        assert again["extensions"]["code"] == "DEVICE_OFFLINE" and "127.0.0.1:1" in again["message"]
        health = {
            who: client.http.get("/health", headers=headers).json()["collection"]["devices"]["9"]
            for who, headers in (("admin", bearer(admin)), ("viewer", bearer(viewer)), ("nobody", {}))
        }
        assert "127.0.0.1:1" in health["admin"]["lastError"]
        assert "lastError" not in health["viewer"] and "lastError" not in health["nobody"]
        assert health["viewer"]["failures"] == health["admin"]["failures"] >= 1
