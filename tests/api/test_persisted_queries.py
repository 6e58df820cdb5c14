"""Automatic persisted queries (t3000gql/api/persisted_queries.py) over a real server on 127.0.0.1, step by step
as Apollo's persisted-query link and urql's persistedExchange take them: the hash alone, PersistedQueryNotFound,
the text with its hash, then the hash alone again, by POST and by GET."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import LiveServer

DEVICE = "query Device($id: Int!) { device(deviceId: $id) { deviceName } }"
POINTS = "{ monitoringPoints(deviceId: 1001) { pointName } }"
TREND_LOGS = "{ trendLogs(deviceId: 1001) { trendLogName } }"
RENAME = 'mutation { upsertDevice(input: {deviceId: 1002, deviceName: "Boiler 2"}) { deviceName } }'
NOT_FOUND = {
    "errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]
}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(text: str, **more: Any) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(text), **more}}


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url) as client:
        yield client


def post(http: httpx.Client, body: dict[str, Any], **headers: str) -> httpx.Response:
    return http.post("/graphql", json=body, headers=headers)


def get(http: httpx.Client, text: str, variables: dict[str, Any] | None = None) -> httpx.Response:
    """A hash-only GET as Apollo's link sends it with useGETForHashedQueries (no query text in the URL)."""
    params = {"extensions": json.dumps(persisted(text))}
    if variables is not None:
        params["variables"] = json.dumps(variables)
    return http.get("/graphql", params=params)


def test_the_link_protocol_hash_miss_then_text_then_hash_by_post_and_get(http: httpx.Client) -> None:
    missed = get(http, DEVICE, {"id": 1001})
    assert (missed.status_code, missed.json()) == (200, NOT_FOUND)
    assert missed.headers["cache-control"] == "no-store"  # a proxy must not keep the miss

    sent = post(http, {"query": DEVICE, "variables": {"id": 1001}, "extensions": persisted(DEVICE)})
    assert (sent.status_code, sent.json()) == (200, {"data": {"device": {"deviceName": "AHU-1"}}})

    by_get = get(http, DEVICE, {"id": 1002})
    assert (by_get.status_code, by_get.json()) == (200, {"data": {"device": {"deviceName": "Boiler"}}})
    assert "cache-control" not in by_get.headers
    by_post = post(http, {"variables": {"id": 1001}, "operationName": "Device", "extensions": persisted(DEVICE)})
    assert by_post.json() == {"data": {"device": {"deviceName": "AHU-1"}}}


def test_a_miss_is_answered_alike_to_clients_that_want_graphql_response_json(http: httpx.Client) -> None:
    missed = post(http, {"extensions": persisted(POINTS)}, accept="application/graphql-response+json")
    assert (missed.status_code, missed.json()) == (200, NOT_FOUND)
    assert missed.headers["content-type"] == "application/graphql-response+json"


def test_urqls_retry_marks_the_miss_and_is_served(http: httpx.Client) -> None:
    assert post(http, {"extensions": persisted(POINTS)}).json() == NOT_FOUND
    retried = post(http, {"query": POINTS, "extensions": persisted(POINTS, miss=True)})
    assert {"pointName": "Supply air"} in retried.json()["data"]["monitoringPoints"]
    assert post(http, {"extensions": persisted(POINTS)}).json() == retried.json()


def test_a_hash_that_is_not_the_texts_is_refused_and_not_remembered(http: httpx.Client) -> None:
    wrong = {"persistedQuery": {"version": 1, "sha256Hash": sha256(POINTS)}}
    refused = post(http, {"query": TREND_LOGS, "extensions": wrong})
    assert refused.status_code == 400
    error = refused.json()["errors"][0]
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    assert error["message"] == (
        f"provided sha does not match query: the query's SHA-256 is {sha256(TREND_LOGS)}, "
        f"the request says {sha256(POINTS)}"
    )
    assert post(http, {"extensions": persisted(POINTS)}).json() == NOT_FOUND
    assert post(http, {"extensions": persisted(TREND_LOGS)}).json() == NOT_FOUND


@pytest.mark.parametrize(
    ("extension", "says"),
    [
        ({"version": 2, "sha256Hash": "0" * 64}, "extensions.persistedQuery.version must be 1, not 2"),
        ({"sha256Hash": "0" * 64}, "extensions.persistedQuery.version must be 1, not None"),
        ({"version": 1, "sha256Hash": "abc"}, "sha256Hash must be 64 hexadecimal digits"),
        ({"version": 1}, "sha256Hash must be 64 hexadecimal digits"),
        ("yes", "extensions.persistedQuery must be an object"),
    ],
)
def test_a_malformed_persisted_query_extension_is_a_bad_request(
    http: httpx.Client, extension: Any, says: str
) -> None:
    response = post(http, {"extensions": {"persistedQuery": extension}})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert says in error["message"] and error["extensions"] == {"code": "BAD_REQUEST"}


def test_a_remembered_mutation_still_runs_by_post_only(http: httpx.Client) -> None:
    assert post(http, {"query": RENAME, "extensions": persisted(RENAME)}).json() == {
        "data": {"upsertDevice": {"deviceName": "Boiler 2"}}
    }
    post(
        http, {"query": 'mutation { upsertDevice(input: {deviceId: 1002, deviceName: "Boiler"}) { deviceName } }'}
    )
    refused = get(http, RENAME)
    assert (refused.status_code, refused.headers["allow"]) == (405, "POST")
    assert refused.json()["errors"][0]["extensions"] == {"code": "METHOD_NOT_ALLOWED"}
    assert post(http, {"query": "{ device(deviceId: 1002) { deviceName } }"}).json() == {
        "data": {"device": {"deviceName": "Boiler"}}
    }
    assert post(http, {"extensions": persisted(RENAME)}).json() == {
        "data": {"upsertDevice": {"deviceName": "Boiler 2"}}
    }


@pytest.mark.settings(api_persisted_query_cache_size=2)
def test_the_texts_are_a_bounded_lru(http: httpx.Client) -> None:
    for text in (POINTS, TREND_LOGS):
        assert "data" in post(http, {"query": text, "extensions": persisted(text)}).json()
    assert "data" in post(http, {"extensions": persisted(POINTS)}).json()  # POINTS is now the most recent
    third = "{ cacheStats { totalPoints } }"
    assert "data" in post(http, {"query": third, "extensions": persisted(third)}).json()
    assert post(http, {"extensions": persisted(TREND_LOGS)}).json() == NOT_FOUND
    assert "data" in post(http, {"extensions": persisted(POINTS)}).json()
    assert "data" in post(http, {"extensions": persisted(third)}).json()


@pytest.mark.settings(api_persisted_query_cache_size=0)
def test_size_zero_turns_the_protocol_off_so_clients_stop_hashing(http: httpx.Client) -> None:
    response = post(http, {"extensions": persisted(POINTS)})
    assert (response.status_code, response.headers["cache-control"]) == (200, "no-store")
    assert response.json() == {
        "errors": [
            {"message": "PersistedQueryNotSupported", "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"}}
        ]
    }
    assert "data" in post(http, {"query": POINTS, "extensions": persisted(POINTS)}).json()
    assert post(http, {"extensions": persisted(POINTS)}).json()["errors"][0]["message"] == (
        "PersistedQueryNotSupported"
    )
