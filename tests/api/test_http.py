"""GraphQL over HTTP as the spec has it: methods, media types, status codes; GraphiQL, /health, /metrics;
document limits; internal errors that say nothing of the inside."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from t3000gql.api.limits import MAX_ALIASES, MAX_QUERY_DEPTH, MAX_TOKENS
from tests.api.conftest import GraphQLClient

GRAPHQL_RESPONSE = "application/graphql-response+json"


def test_get_runs_queries_with_variables(client: GraphQLClient) -> None:
    response = client.http.get(
        "/graphql",
        params={"query": "query($id: Int!) { device(deviceId: $id) { deviceName } }", "variables": '{"id": 1001}'},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"data": {"device": {"deviceName": "AHU-1"}}}


def test_get_refuses_mutations_with_405(client: GraphQLClient) -> None:
    response = client.http.get("/graphql", params={"query": "mutation { deleteDevice(deviceId: 1001) }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"] == {"code": "METHOD_NOT_ALLOWED"}
    assert client.data("{ device(deviceId: 1001) { deviceId } }") == {"device": {"deviceId": 1001}}
    assert client.http.put("/graphql", json={"query": "{ cacheStats { hits } }"}).status_code == 405


def test_bodies_that_are_not_graphql_requests(client: GraphQLClient) -> None:
    response = client.http.post(
        "/graphql", content=b"{ devices { deviceId } }", headers={"content-type": "text/plain"}
    )
    assert (response.status_code, response.json()["errors"][0]["extensions"]["code"]) == (
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    response = client.http.post("/graphql", content=b"{not json", headers={"content-type": "application/json"})
    assert (response.status_code, response.json()["errors"][0]["extensions"]["code"]) == (400, "BAD_REQUEST")
    response = client.http.post("/graphql", json={"variables": {}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "No GraphQL query found in the request"
    response = client.http.post("/graphql", json=[{"query": "{ cacheStats { hits } }"}])
    assert response.status_code == 400


def test_graphql_response_json_uses_status_codes(client: GraphQLClient) -> None:
    headers = {"accept": f"{GRAPHQL_RESPONSE}, application/json;q=0.9"}
    invalid = client.http.post("/graphql", json={"query": "{ devices { nope } }"}, headers=headers)
    assert invalid.status_code == 400
    assert invalid.headers["content-type"] == GRAPHQL_RESPONSE
    assert "data" not in invalid.json()
    assert invalid.json()["errors"][0]["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}

    partial = client.http.post("/graphql", json={"query": "{ device(deviceId: 5) { deviceId } }"}, headers=headers)
    assert partial.status_code == 200
    assert partial.json()["data"] == {"device": None}

    ok = client.http.post("/graphql", json={"query": "{ cacheStats { totalPoints } }"}, headers=headers)
    assert (ok.status_code, ok.headers["content-type"]) == (200, GRAPHQL_RESPONSE)


def test_application_json_answers_200_for_well_formed_requests(client: GraphQLClient) -> None:
    invalid = client.http.post(
        "/graphql", json={"query": "{ devices { nope } }"}, headers={"accept": "application/json"}
    )
    assert (invalid.status_code, invalid.headers["content-type"]) == (200, "application/json")
    assert "data" not in invalid.json()


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.5, application/json", "application/json"),
        ("application/*;q=0.2, application/graphql-response+json;q=0.8", GRAPHQL_RESPONSE),
    ],
)
def test_accept_negotiation(client: GraphQLClient, accept: str, expected: str) -> None:
    response = client.http.post("/graphql", json={"query": "{ cacheStats { hits } }"}, headers={"accept": accept})
    assert (response.status_code, response.headers["content-type"]) == (200, expected)


def test_an_accept_header_we_cannot_satisfy_is_406(client: GraphQLClient) -> None:
    response = client.http.post(
        "/graphql", json={"query": "{ cacheStats { hits } }"}, headers={"accept": "text/csv"}
    )
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"] == {"code": "NOT_ACCEPTABLE"}


def test_a_browser_gets_graphiql(client: GraphQLClient) -> None:
    response = client.http.get("/graphql", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


def test_health_and_metrics(client: GraphQLClient) -> None:
    health = client.http.get("/health").json()
    assert health["status"] == "ok"
    assert health["partitions"] == [2024, 2025]
    client.data("{ cacheStats { hits } }")
    metrics = client.http.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(metrics.text)
        for sample in family.samples
        if not sample.labels
    }
    assert values["t3000gql_graphql_requests_total"] == 1
    assert values["t3000gql_graphql_requests_in_flight"] == 0
    assert values["t3000gql_cache_points"] == 4
    assert values["t3000gql_history_partitions"] == 2


def test_query_depth_is_limited(client: GraphQLClient) -> None:
    deep = """{ series(points: [{deviceId: 1001, pointType: INPUT, pointNumber: 1}], start: 0, end: 1) {
        point { device { trendLogs { points { history(start: 0, end: 1) { columns { values } } } } } } } }"""
    assert client.data(deep)["series"][0]["point"]["device"]["trendLogs"]
    levels = MAX_QUERY_DEPTH // 2 + 1
    opening, closing = "device { points { " * levels, "} } " * levels
    too_deep = f"{{ point(deviceId: 1001, pointType: INPUT, pointNumber: 1) {{ {opening} deviceId {closing} }} }}"
    error = client.error(too_deep)
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert f"exceeds maximum operation depth of {MAX_QUERY_DEPTH}" in error["message"]


def test_aliases_are_limited(client: GraphQLClient) -> None:
    query = "{ " + " ".join(f"a{i}: cacheStats {{ hits }}" for i in range(MAX_ALIASES + 1)) + " }"
    error = client.error(query)
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert f"Allowed: {MAX_ALIASES}" in error["message"]


def test_tokens_are_limited(client: GraphQLClient) -> None:
    query = "{ " + " ".join("cacheStats { hits }" for _ in range(MAX_TOKENS // 4 + 1)) + " }"
    error = client.error(query)
    assert error["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    assert f"more than {MAX_TOKENS} tokens" in error["message"]


def test_syntax_errors_and_unknown_fields_have_codes(client: GraphQLClient) -> None:
    assert client.error("{ devices { deviceId ")["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    assert client.error("{ devices(color: RED) { deviceId } }")["extensions"] == {
        "code": "GRAPHQL_VALIDATION_FAILED"
    }
    error = client.error("query($id: Int!) { device(deviceId: $id) { deviceId } }", {"id": "ten"})
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "$id" in error["message"]


def test_internal_errors_are_coded_and_say_nothing_of_the_inside(
    client: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Fault injection: nothing real fails on demand, so one repository method is replaced by one that raises.
    async def broken(**_filters: object) -> None:
        raise RuntimeError("disk /var/secret melted")

    monkeypatch.setattr(client.services.store.devices, "list", broken)
    with caplog.at_level(logging.ERROR, logger="t3000gql.api.errors"):
        body = client.post("{ devices { deviceId } cacheStats { totalPoints } }")
    assert body["data"] is None  # devices is non-null: its error nulls the whole answer
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "INTERNAL"}
    assert "secret" not in json.dumps(body)
    reference = error["message"].split("reference ")[1].split(")")[0]
    assert any(reference in record.getMessage() and record.exc_info for record in caplog.records)


def test_the_websocket_endpoint_speaks_graphql_transport_ws(client: GraphQLClient) -> None:
    with client.http.websocket_connect("ws://127.0.0.1/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"token": "t"}})
        assert ws.receive_json() == {"type": "connection_ack"}
        ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": "{ device(deviceId: 1001) { deviceName } }"}}
        )
        assert ws.receive_json() == {
            "id": "1",
            "type": "next",
            "payload": {"data": {"device": {"deviceName": "AHU-1"}}},
        }
        assert ws.receive_json() == {"id": "1", "type": "complete"}
