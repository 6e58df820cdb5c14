"""Seed 000's error-recovery table over HTTP: each failure is an answer in the envelope with the right status,
GraphQL's code and nothing of the server's internals; the request gate is the one GraphQL requests pass."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from t3000gql.config import Settings
from tests.api.conftest import LiveServer, open_client
from tests.postgres import execute_sql, write_lock_held
from tests.rest.conftest import RestClient

MAX_BODY_BYTES = Settings.defaults().api_max_body_bytes
BATCH = b'[{"device_id": 1001, "point_type": 1, "point_number": 1, "value": 1.0, "timestamp": 1735776000}]'
GRAPHQL = b'{"query": "{ cacheStats { totalPoints } }"}'


def test_a_path_that_is_no_route_is_404_in_the_envelope(rest: RestClient) -> None:
    answer = rest.get("/api/devices")
    assert (answer.status, answer.body["code"]) == (404, "NOT_FOUND")


@pytest.mark.parametrize("path", ["/api/device/%0A/data", "/api/device/1/point/%0A/1", "/api/%0A"])
def test_a_path_with_a_newline_is_answered_in_the_envelope_too(rest: RestClient, path: str) -> None:
    # Starlette's Mount pattern stopped at the newline: these got the outer app's plain-text 404 (schemathesis).
    answer = rest.get(path)
    assert answer.status in (400, 404)
    assert answer.body["success"] is False and answer.body["code"] in ("BAD_USER_INPUT", "NOT_FOUND")


def test_a_method_the_route_does_not_take_is_405(rest: RestClient) -> None:
    answer = rest.request("DELETE", "/api/device/1001/data")
    assert (answer.status, answer.body["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert "GET" in answer.response.headers["allow"]


def test_a_body_that_is_not_json_is_415(rest: RestClient) -> None:
    answer = rest.request("POST", "/api/timeseries/batch", content=BATCH, headers={"content-type": "text/csv"})
    assert (answer.status, answer.body["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert (
        rest.request(
            "POST", "/api/timeseries/batch", content=b"[", headers={"content-type": "application/json"}
        ).status
        == 400
    )


def test_a_body_over_the_limit_is_413_before_it_is_read(rest: RestClient) -> None:
    big = b"[" + b" " * MAX_BODY_BYTES + b"]"
    answer = rest.request(
        "POST", "/api/timeseries/batch", content=big, headers={"content-type": "application/json"}
    )
    assert (answer.status, answer.body["code"]) == (413, "BAD_REQUEST")
    assert f"larger than {MAX_BODY_BYTES} bytes" in answer.body["error"]


def test_a_body_over_the_limit_without_a_length_is_413_too(rest: RestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(9):
            yield b" " * (1024 * 1024)
        yield b"]"

    answer = rest.request(
        "POST", "/api/timeseries/batch", content=chunks(), headers={"content-type": "application/json"}
    )
    assert answer.status == 413


def test_an_internal_error_is_500_with_a_reference_and_no_internals(
    rest: RestClient, seeded: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    execute_sql(seeded.database_url, "DROP TABLE trend_log_points")  # the server's next read of it fails
    with caplog.at_level(logging.ERROR, logger="t3000gql.rest.envelope"):
        answer = rest.get("/api/trend-logs/1001")
    assert (answer.status, answer.body["code"], answer.body["data"]) == (500, "INTERNAL", None)
    assert answer.body["error"].startswith("internal error (reference ")
    text = answer.response.text.lower()
    assert "trend_log_points" not in text and "sqlite" not in text and "postgres" not in text
    reference = answer.body["error"].split("reference ")[1].split(")")[0]
    assert any(reference in record.getMessage() and record.exc_info for record in caplog.records)


def test_a_database_that_cannot_take_writes_is_503_and_nothing_is_half_written(seeded: Settings) -> None:
    with open_client(replace(seeded, database_busy_timeout_ms=50)) as client:
        rest = RestClient(client)
        with write_lock_held(seeded.database_url):  # another process holds the write lock
            answer = rest.request(
                "POST", "/api/timeseries/batch", content=BATCH, headers={"content-type": "application/json"}
            )
        assert (answer.status, answer.body["code"]) == (503, "DATABASE_UNAVAILABLE")
        assert answer.response.headers["retry-after"] == "5"
        again = rest.request(
            "POST", "/api/timeseries/batch", content=BATCH, headers={"content-type": "application/json"}
        )
        assert again.status == 200 and again.data["inserted"] == 1


# --- the request gate, shared with GraphQL, over a real uvicorn ------------------------------------------------


def _in_flight(server: LiveServer) -> int:
    text = httpx.get(f"{server.url}/metrics").text
    line = next(line for line in text.splitlines() if line.startswith("t3000gql_graphql_requests_in_flight "))
    return int(float(line.split()[1]))  # prometheus-client prints every value as a float


def _wait_for_in_flight(server: LiveServer, want: int) -> None:
    for _ in range(1000):
        if _in_flight(server) == want:
            return
    raise AssertionError(f"in-flight requests never reached {want}")


def _hold(server: LiveServer, path: str, body: bytes) -> socket.socket:
    """A POST whose body stays incomplete: the server has admitted it and waits for the rest."""
    sock = socket.create_connection((server.host, server.port), timeout=30)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body[:10])
    return sock


def _status_and_body(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ")[1]), body


@pytest.mark.settings(api_max_concurrent_requests=1)
@pytest.mark.parametrize(
    ("held", "refused"), [("/graphql", "/api/timeseries/batch"), ("/api/timeseries/batch", "/graphql")]
)
def test_rest_and_graphql_share_one_concurrency_limit(live_server: LiveServer, held: str, refused: str) -> None:
    body = GRAPHQL if held == "/graphql" else BATCH
    sock = _hold(live_server, held, body)
    try:
        _wait_for_in_flight(live_server, 1)
        other = GRAPHQL if refused == "/graphql" else BATCH
        response = httpx.post(
            f"{live_server.url}{refused}", content=other, headers={"content-type": "application/json"}
        )
        assert response.status_code == 429 and response.headers["retry-after"] == "1"
        if refused.startswith("/api"):
            assert response.json()["code"] == "RATE_LIMITED" and response.json()["success"] is False
            assert "API_MAX_CONCURRENT_REQUESTS" in response.json()["error"]
        sock.sendall(body[10:])
        status, _ = _status_and_body(sock)
        assert status == 200
    finally:
        sock.close()


@pytest.mark.settings(api_request_timeout_seconds=0.05)
def test_a_rest_request_that_runs_too_long_is_504_timeout(live_server: LiveServer) -> None:
    sock = _hold(live_server, "/api/timeseries/batch", BATCH)
    try:
        status, body = _status_and_body(sock)
    finally:
        sock.close()
    assert status == 504
    assert b'"code":"TIMEOUT"' in body and b"API_REQUEST_TIMEOUT_SECONDS" in body
